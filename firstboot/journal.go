package firstboot

import (
	"errors"
	"io/fs"
	"strings"

	"github.com/mantlet/mantlet/firstboot/rootfs"
)

// Journal is where a boot records the actions that are not idempotent, so that the next
// attempt after an interrupted boot does not do them twice. Removed when first boot is done.
const Journal = StateDir + "/journal"

// journal implements stages.Journal in a file of the state directory, one key a line.
type journal struct {
	fs   *rootfs.FS
	keys map[string]bool
	list []string
}

func openJournal(fsys *rootfs.FS) (*journal, error) {
	j := &journal{fs: fsys, keys: map[string]bool{}}
	b, err := fsys.ReadFile(Journal)
	if errors.Is(err, fs.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return nil, err
	}
	for _, k := range strings.Split(string(b), "\n") {
		if k != "" && !j.keys[k] {
			j.keys[k] = true
			j.list = append(j.list, k)
		}
	}
	return j, nil
}

func (j *journal) Done(key string) bool { return j.keys[key] }

func (j *journal) Record(key string) error {
	if j.keys[key] {
		return nil
	}
	j.keys[key] = true
	j.list = append(j.list, key)
	return j.fs.WriteFile(Journal, []byte(strings.Join(j.list, "\n")+"\n"), 0o600, rootfs.NoOwner)
}

package firstboot

import (
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/firstboot/stages"
)

func TestImageFiles(t *testing.T) {
	files := ImageFiles()
	byPath := map[string]ImageFile{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	unit, ok := byPath[UnitPath]
	if !ok || unit.Mode != 0o644 || unit.Symlink != "" {
		t.Fatalf("unit = %+v", unit)
	}
	for _, line := range []string{
		"Type=oneshot", "RemainAfterExit=yes", "ExecStart=" + BinaryPath + " run",
		"StandardOutput=journal+console", "StandardError=journal+console",
		"ConditionPathExists=!" + StampDone, "Before=ssh.service systemd-user-sessions.service",
	} {
		if !strings.Contains(string(unit.Data), "\n"+line+"\n") {
			t.Errorf("unit lacks %q", line)
		}
	}
	dropIn, ok := byPath[SSHDropInPath]
	if !ok || !strings.Contains(string(dropIn.Data), "\nWants="+UnitName+"\n") || !strings.Contains(string(dropIn.Data), "\nAfter="+UnitName+"\n") {
		t.Fatalf("ssh drop-in = %q", dropIn.Data)
	}
	if strings.Contains(string(dropIn.Data), "\nRequires=") {
		t.Fatal("sshd must start when first boot fails")
	}

	// the enablement symlinks are exactly what the unit's [Install] section asks for
	in, err := stages.ParseInstall(string(unit.Data))
	if err != nil {
		t.Fatal(err)
	}
	var links []ImageFile
	for _, f := range files {
		if f.Symlink != "" {
			links = append(links, f)
			if f.Mode != fs.ModeSymlink|0o777 || f.Symlink != UnitPath {
				t.Errorf("symlink %+v", f)
			}
		}
	}
	if len(links) != len(in.WantedBy) {
		t.Fatalf("links %v for WantedBy %v", links, in.WantedBy)
	}
	for i, target := range in.WantedBy {
		if want := path.Join("/etc/systemd/system", target+".wants", UnitName); links[i].Path != want {
			t.Errorf("link %s, want %s", links[i].Path, want)
		}
	}
	// callers may change what they get
	files[0].Data[0] = 'X'
	if ImageFiles()[0].Data[0] == 'X' {
		t.Fatal("ImageFiles shares its bytes")
	}
}

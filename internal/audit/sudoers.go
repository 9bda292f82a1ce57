package audit

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// sudoersNoPasswdOK is the only user specification that may use NOPASSWD: the administrators
// of the image have SSH keys and no password.
const sudoersNoPasswdOK = "%sudo"

var sudoersLogfile = regexp.MustCompile(`^Defaults\s+.*\blogfile\s*=\s*"?/`)
var sudoersUsePty = regexp.MustCompile(`^Defaults\s+(.*[\s,])?use_pty\b`)

// CheckSudoers reads /etc/sudoers and /etc/sudoers.d/* of the tree at root: NOPASSWD for
// nobody but %sudo, Defaults use_pty and a Defaults logfile.
func CheckSudoers(root string) []Finding {
	im, err := openImage(root)
	if err != nil {
		return []Finding{{Check: "sudoers", Subject: root, Msg: err.Error()}}
	}
	defer im.close()
	files := []string{"/etc/sudoers"}
	for _, n := range im.names("/etc/sudoers.d") {
		// sudo skips names with a '.' or ending in '~' in an includedir.
		if p := "/etc/sudoers.d/" + n; im.isFile(p) && !strings.Contains(n, ".") && !strings.HasSuffix(n, "~") {
			files = append(files, p)
		}
	}
	sort.Strings(files[1:])
	var fs []Finding
	usePty, logfile := false, false
	for _, f := range files {
		data, err := im.readFile(f)
		if err != nil {
			if f == "/etc/sudoers" && errors.Is(err, os.ErrNotExist) {
				return nil // no sudo in the image
			}
			fs = append(fs, Finding{Check: "sudoers", Subject: f, Msg: err.Error()})
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(joinContinuations(data)))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue // comments; #include lines name files checked above
			}
			switch {
			case sudoersUsePty.MatchString(line):
				usePty = true
			case sudoersLogfile.MatchString(line):
				logfile = true
			}
			if strings.Contains(line, "NOPASSWD") || strings.Contains(line, "!authenticate") {
				who := strings.Fields(line)[0]
				if who != sudoersNoPasswdOK {
					fs = append(fs, Finding{Check: "sudoers", Subject: f, Msg: "NOPASSWD or !authenticate for " + who + ": only " + sudoersNoPasswdOK + " may go without a password"})
				}
			}
		}
	}
	if !usePty {
		fs = append(fs, Finding{Check: "sudoers", Subject: "Defaults use_pty", Msg: "not set: sudo must run commands in a pseudo-terminal"})
	}
	if !logfile {
		fs = append(fs, Finding{Check: "sudoers", Subject: "Defaults logfile", Msg: "not set: sudo must log to its own file"})
	}
	return fs
}

// joinContinuations joins lines ending in a backslash with the next one.
func joinContinuations(data []byte) []byte {
	return bytes.ReplaceAll(data, []byte("\\\n"), []byte(" "))
}

// privateKeyMarkers start a PEM or OpenSSH private key.
var privateKeyMarkers = [][]byte{[]byte("PRIVATE KEY-----")}

// CheckKeyMaterial walks /etc of the tree at root for private keys (PEM or OpenSSH) and SSH
// host keys that others may read.
func CheckKeyMaterial(root string) []Finding {
	var fs_ []Finding
	etc := filepath.Join(root, "etc")
	_ = filepath.WalkDir(etc, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Mode().Perm()&0o004 == 0 || info.Size() > 1<<20 {
			return nil
		}
		rel := "/" + strings.TrimPrefix(filepath.ToSlash(strings.TrimPrefix(p, root)), "/")
		isKey := strings.HasPrefix(d.Name(), "ssh_host_") && strings.HasSuffix(d.Name(), "_key")
		if !isKey {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			for _, m := range privateKeyMarkers {
				if bytes.Contains(data, []byte("-----BEGIN")) && bytes.Contains(data, m) {
					isKey = true
				}
			}
		}
		if isKey {
			fs_ = append(fs_, Finding{Check: "keys", Subject: rel, Msg: "a private key readable by everyone (mode " + info.Mode().Perm().String() + ")"})
		}
		return nil
	})
	return fs_
}

package firstboot

import (
	"bytes"
	"context"
	_ "embed"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/firstboot/hostkeys"
	"github.com/mantlet/mantlet/firstboot/internal/fixture"
	"github.com/mantlet/mantlet/internal/command"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

//go:embed testdata/apply.ign
var applyConfig []byte

func TestMain(m *testing.M) {
	hostkeys.RSABits = 2048 // 3072-bit keys take seconds each
	os.Exit(m.Run())
}

// newRoot makes an image-like root: /home -> /var/home, accounts, login.defs, an empty
// machine-id.
func newRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range map[string]string{
		"etc/passwd":     "root:x:0:0:root:/root:/bin/bash\n",
		"etc/group":      "root:x:0:\n",
		"etc/machine-id": "",
		"etc/hostname":   "localhost\n",
		"etc/login.defs": "USERGROUPS_ENAB yes\n", // as the image's: new users get a group of their name
	} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(root, "var/home"), 0o755)
	if err := os.Symlink("/var/home", filepath.Join(root, "home")); err != nil {
		t.Fatal(err)
	}
	return root
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs (run go test -update if this is right):\n%s", file, got)
	}
}

func TestApplyGolden(t *testing.T) {
	root := newRoot(t)
	var out bytes.Buffer
	if err := Apply(context.Background(), ApplyOptions{Root: root, Runner: &command.Recorder{}, Stdout: &out}, applyConfig); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	golden(t, "apply.tree", tree(t, root))
	golden(t, "apply.console", out.String())
	if strings.Contains(out.String(), "top-secret") {
		t.Fatal("contents on the console")
	}
	// the same config again: nothing to do, same tree
	out.Reset()
	if err := Apply(context.Background(), ApplyOptions{Root: root, Runner: &command.Recorder{}, Stdout: &out}, applyConfig); err != nil {
		t.Fatalf("second apply: %v\n%s", err, out.String())
	}
	golden(t, "apply.tree", tree(t, root))
}

func TestValidateNamesPaths(t *testing.T) {
	raw := `{"ignition":{"version":"3.0.0"},
	  "storage":{"disks":[{"device":"/dev/vdb"}],"files":[{"path":"/a"},{"path":"/b"},{"path":"/c"},{"path":"/d","contents":{"source":"http://10.0.0.1/secret"}}]},
	  "passwd":{"users":[{"name":"core","passwordHash":"$6$salt$hash"}]},
	  "extra":1}`
	var out bytes.Buffer
	err := Validate([]byte(raw), &out)
	if err == nil {
		t.Fatal("no error")
	}
	want := "error: $.storage.disks (line 2 col 24): not supported by mantlet-firstboot\n" +
		"error: $.storage.files[3].contents.source (line 2 col 132): scheme http without verification.hash is not supported by mantlet-firstboot (use https or pin the hash)\n" +
		"error: $.passwd.users[0].passwordHash (line 3 col 53): passwords are not supported by mantlet-firstboot: the image has none, use sshAuthorizedKeys\n" +
		"warning: $.extra (line 4 col 4): unused key extra\n"
	if out.String() != want {
		t.Fatalf("got:\n%swant:\n%s", out.String(), want)
	}
	for _, v := range []string{"3.0.0", "3.3.0", "3.6.0"} {
		out.Reset()
		if err := Validate([]byte(`{"ignition":{"version":"`+v+`"}}`), &out); err != nil || out.Len() != 0 {
			t.Errorf("%s: %v %s", v, err, out.String())
		}
	}
}

// tree lists the nodes under root for golden files (fixture.Tree).
func tree(t *testing.T, root string, skip ...string) string {
	t.Helper()
	out, err := fixture.Tree(root, skip...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

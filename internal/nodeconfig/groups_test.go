package nodeconfig

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/firstboot"
	"github.com/mantlet/mantlet/internal/command"
)

// A node's config makes the component groups its files belong to: applied with the real
// groupadd to a root that has only Debian's base groups, every file gets its group.
func TestConfigMakesComponentGroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("groupadd --prefix needs root")
	}
	if _, err := exec.LookPath("groupadd"); err != nil {
		t.Skip("groupadd (passwd package) not installed")
	}
	out, err := Generate(fixed("control"), nil)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	base := map[string]string{
		"etc/passwd":  "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":   "root:x:0:\nwww-data:x:33:\n",
		"etc/shadow":  "root:*:19000:0:99999:7:::\n",
		"etc/gshadow": "root:*::\nwww-data:*::\n",
	}
	for p, data := range base {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var console bytes.Buffer
	if err := firstboot.Apply(context.Background(), firstboot.ApplyOptions{Root: root, Runner: command.Exec{}, Stdout: &console}, out); err != nil {
		t.Fatalf("%v\n%s", err, console.String())
	}
	groups, _ := os.ReadFile(filepath.Join(root, "etc/group"))
	for _, g := range []string{"consul", "zookeeper", "marathon"} {
		if !strings.Contains(string(groups), "\n"+g+":x:") {
			t.Errorf("group %s not made:\n%s", g, groups)
		}
	}
	if strings.Count(string(groups), "www-data:") != 1 {
		t.Errorf("www-data must be left as Debian makes it:\n%s", groups)
	}
}

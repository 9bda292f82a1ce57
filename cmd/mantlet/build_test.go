package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input is refused before any work: nothing is created in the output directory.
func TestBuildRefusesBadInputBeforeWork(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\ncolour: blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--image", bad, "--profile", "../../profiles/base.yaml"}, []string{"bad.yaml:2: colour: unknown field", "release"}},
		{[]string{"--image", "../../images/node.yaml", "--profile", "../../profiles/base.yaml", "--format", "raw,tar"}, []string{`--format[1]: "tar" is not a format`}},
		{[]string{"--image", "../../images/node.yaml", "--profile", "../../profiles/base.yaml", "--firstboot", bad}, []string{"--firstboot " + bad}},
	}
	for _, c := range cases {
		cmd := newRootCmd()
		var stderr bytes.Buffer
		cmd.SetOut(&stderr)
		cmd.SetErr(&stderr)
		cmd.SetArgs(append([]string{"build", "-o", out}, c.args...))
		err := cmd.Execute()
		if err == nil {
			t.Fatalf("%v: no error", c.args)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", c.args, err, w)
			}
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("%v: the output directory was created before validation finished", c.args)
		}
	}
}

package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/firstboot/providers"
)

func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func writeConfig(t *testing.T, raw string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.ign")
	if err := os.WriteFile(p, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateCommand(t *testing.T) {
	bad := writeConfig(t, `{"ignition":{"version":"3.3.0"},"storage":{"luks":[{"name":"x","device":"/dev/vdb"}]}}`)
	out, err := execute(t, "validate", bad)
	if !errors.Is(err, errReported) {
		t.Fatalf("err = %v", err)
	}
	if out != "error: $.storage.luks (line 1 col 52): not supported by mantlet-firstboot\nconfig is invalid\n" {
		t.Fatalf("output:\n%s", out)
	}
	good := writeConfig(t, `{"ignition":{"version":"3.6.0"}}`)
	if out, err := execute(t, "validate", good); err != nil || out != "config is valid\n" {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := execute(t, "validate"); err == nil {
		t.Fatal("no error without a config")
	}
}

func TestApplyCommand(t *testing.T) {
	root := t.TempDir()
	cfg := writeConfig(t, `{"ignition":{"version":"3.0.0"},"storage":{"files":[{"path":"/etc/motd","contents":{"source":"data:,hi"}}]}}`)
	out, err := execute(t, "apply", "--root", root, cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/motd")); err != nil || string(b) != "hi" {
		t.Fatalf("motd %q, %v", b, err)
	}
	// apply stamps nothing and makes no host keys
	for _, p := range []string{"var", "etc/ssh"} {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("apply made %s", p)
		}
	}
}

// TestRunHelpListsProviders: every registered provider is named in the help.
func TestRunHelpListsProviders(t *testing.T) {
	out, err := execute(t, "run", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range providers.Names() {
		if !strings.Contains(out, name) {
			t.Errorf("run --help does not name provider %s", name)
		}
	}
}

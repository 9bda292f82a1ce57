package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/firstboot"
	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/creds"
)

const cliPass = "cli test passphrase"

func mantlet(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func mustMantlet(t *testing.T, args ...string) string {
	t.Helper()
	out, err := mantlet(t, args...)
	if err != nil {
		t.Fatalf("mantlet %v: %v", args, err)
	}
	return out
}

// init, issue, ignition: configs the first-boot agent applies; no secret on stdout.
func TestCredsToIgnition(t *testing.T) {
	creds.ScryptWorkFactor = 10
	t.Setenv("MANTLET_PASSPHRASE", cliPass)
	dir := filepath.Join(t.TempDir(), "cluster")
	var stdout strings.Builder
	stdout.WriteString(mustMantlet(t, "creds", "init", "--dir", dir, "--name", "prod", "--datacenter", "dc1", "--permit-dns", "example.org"))
	stdout.WriteString(mustMantlet(t, "creds", "issue", "--dir", dir, "--node", "ctl-1", "--role", "control", "--ip", "10.0.0.11"))
	stdout.WriteString(mustMantlet(t, "creds", "issue", "--dir", dir, "--node", "wrk-1", "--role", "worker", "--ip", "10.0.0.21", "--dns", "wrk-1.example.org"))
	stdout.WriteString(mustMantlet(t, "creds", "show", "--dir", dir))
	out := t.TempDir()
	for _, node := range []string{"ctl-1", "wrk-1"} {
		ign := filepath.Join(out, node+".ign")
		stdout.WriteString(mustMantlet(t, "ignition", "--dir", dir, "--node", node, "-o", ign))
		fi, err := os.Stat(ign)
		if err != nil || fi.Mode() != 0o600 {
			t.Fatalf("%s: %v %v", ign, fi.Mode(), err)
		}
		raw, _ := os.ReadFile(ign)
		again := filepath.Join(out, node+".again.ign")
		mustMantlet(t, "ignition", "--dir", dir, "--node", node, "-o", again)
		if b, _ := os.ReadFile(again); !bytes.Equal(b, raw) {
			t.Fatal("the same store and node gave different configs")
		}
		if os.Geteuid() == 0 {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "etc"), 0o755)
			os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644)
			os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nwww-data:x:33:\nconsul:x:990:\nzookeeper:x:991:\nmarathon:x:992:\n"), 0o644)
			var console bytes.Buffer
			if err := firstboot.Apply(context.Background(), firstboot.ApplyOptions{Root: root, Runner: &command.Recorder{}, Stdout: &console}, raw); err != nil {
				t.Fatalf("agent on %s: %v\n%s", node, err, console.String())
			}
			if _, err := os.Stat(filepath.Join(root, "etc/mantlet/tls/node-key.pem")); err != nil {
				t.Fatal(err)
			}
		}
	}
	s, err := creds.Open(dir, creds.Keys{Passphrase: cliPass})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{cliPass, s.Secrets.Gossip, s.Secrets.WebPassword, s.Secrets.ZooKeeper["super"], s.Secrets.ConsulTokens["agent"], "PRIVATE KEY"}
	for _, v := range secrets {
		if strings.Contains(stdout.String(), v) {
			t.Fatalf("stdout holds a secret:\n%s", stdout.String())
		}
	}
	for _, want := range []string{"ctl-1", "wrk-1", "SHA256:", "ecdsa-p256 (signing)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// --reveal is the one way to see a value
	if rev := mustMantlet(t, "creds", "show", "--dir", dir, "--reveal"); !strings.Contains(rev, s.Secrets.WebPassword) || strings.Contains(rev, "PRIVATE KEY") {
		t.Fatal("--reveal shows no web password, or a private key")
	}
	rot := mustMantlet(t, "creds", "rotate", "--dir", dir, "gossip")
	if !strings.Contains(rot, "needs a new config: ctl-1\nneeds a new config: wrk-1\n") {
		t.Fatalf("rotate said %q", rot)
	}
}

func TestCredsCLIErrors(t *testing.T) {
	creds.ScryptWorkFactor = 10
	t.Setenv("MANTLET_PASSPHRASE", cliPass)
	dir := filepath.Join(t.TempDir(), "cluster")
	mustMantlet(t, "creds", "init", "--dir", dir, "--name", "prod", "--datacenter", "dc1")
	mustMantlet(t, "creds", "issue", "--dir", dir, "--node", "ctl-1", "--role", "control", "--ip", "10.0.0.11")
	ign := filepath.Join(t.TempDir(), "x.ign")
	oldButane := filepath.Join(t.TempDir(), "old.bu")
	if err := os.WriteFile(oldButane, []byte("variant: fcos\nversion: 1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"issued twice", []string{"creds", "issue", "--dir", dir, "--node", "ctl-1", "--role", "control", "--ip", "10.0.0.11"}, "node already issued: ctl-1"},
		{"bad ip", []string{"creds", "issue", "--dir", dir, "--node", "w", "--role", "worker", "--ip", "10.0.0"}, `ip "10.0.0" does not parse`},
		{"unknown role", []string{"creds", "issue", "--dir", dir, "--node", "w", "--role", "master", "--ip", "10.0.0.2"}, `unknown role "master"`},
		{"unknown kind", []string{"creds", "rotate", "--dir", dir, "passwords"}, `unknown kind of secret "passwords"`},
		{"unknown node", []string{"ignition", "--dir", dir, "--node", "nope", "-o", ign}, `unknown node "nope"`},
		{"stdout", []string{"ignition", "--dir", dir, "--node", "ctl-1", "-o", "-"}, "not stdout"},
		{"butane", []string{"ignition", "--dir", dir, "--node", "ctl-1", "--merge", oldButane, "-o", ign}, "only variant fcos, version 1.5.0"},
		{"no store", []string{"ignition", "--dir", t.TempDir(), "--node", "ctl-1", "-o", ign}, "no credential store"},
		{"init twice", []string{"creds", "init", "--dir", dir, "--name", "prod", "--datacenter", "dc1"}, "store already exists"},
		{"cidr without static", []string{"ignition", "--dir", dir, "--node", "ctl-1", "-o", ign, "--cidr", "10.0.0.0/24"}, "--cidr: only with --network static"},
		{"unknown network", []string{"ignition", "--dir", dir, "--node", "ctl-1", "-o", ign, "--network", "manual"}, `--network "manual": want dhcp or static`},
		{"static without interface", []string{"ignition", "--dir", dir, "--node", "ctl-1", "-o", ign, "--network", "static", "--cidr", "10.0.0.0/24"}, "--interface: not set"},
		{"bad cidr", []string{"ignition", "--dir", dir, "--node", "ctl-1", "-o", ign, "--network", "static", "--cidr", "10.0.0/24", "--interface", "enp0s4"}, `--cidr "10.0.0/24"`},
		{"bad dns", []string{"ignition", "--dir", dir, "--node", "ctl-1", "-o", ign, "--network", "static", "--cidr", "10.0.0.0/24", "--interface", "enp0s4", "--dns", "dns.example"}, `--dns "dns.example": not an IP address`},
		{"node outside cidr", []string{"ignition", "--dir", dir, "--node", "ctl-1", "-o", ign, "--network", "static", "--cidr", "10.9.0.0/24", "--interface", "enp0s4"}, "none of its certificate's addresses [10.0.0.11] is in --cidr 10.9.0.0/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mantlet(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %q", err, tc.msg)
			}
		})
	}
	t.Setenv("MANTLET_PASSPHRASE", "wrong")
	if _, err := mantlet(t, "ignition", "--dir", dir, "--node", "ctl-1", "-o", ign); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := os.Stat(ign); err == nil {
		t.Fatal("a config was written after errors")
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/internal/audit"
	"github.com/mantlet/mantlet/internal/creds"
	"github.com/mantlet/mantlet/internal/pipeline"
)

// TestExitCodes: usage mistakes, failed audits, failed builds, interruptions and other errors
// leave with the codes the README documents.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--no-such-flag"}, exitUsage},
		{[]string{"bogus"}, exitUsage},
		{[]string{"creds", "bogus"}, exitUsage},
		{[]string{"creds", "show"}, exitUsage}, // --dir required
		{[]string{"audit"}, exitUsage},         // one argument
		{[]string{"audit", "a", "b"}, exitUsage},
		{[]string{"creds", "show", "--dir", "/nonexistent/mantlet"}, exitError},
		{[]string{"--version"}, exitOK},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := mantlet(t, tc.args...)
			if got := exitCode(context.Background(), err); got != tc.want {
				t.Fatalf("exit %d, want %d (err %v)", got, tc.want, err)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		ctx  context.Context
		err  error
		want int
	}{
		{context.Background(), fmt.Errorf("x: %w", audit.ErrFailed), exitAuditFailed},
		{context.Background(), &pipeline.StepError{Step: "rootfs", Err: errors.New("mmdebstrap: exit status 1")}, exitBuildFailed},
		{ctx, &pipeline.StepError{Step: "rootfs", Err: context.Canceled}, exitInterrupted},
		{ctx, fmt.Errorf("boot: %w", context.Canceled), exitInterrupted},
	} {
		if got := exitCode(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%v: exit %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestVersionFlag: --version names the binary, its version and commit.
func TestVersionFlag(t *testing.T) {
	out, err := mantlet(t, "--version")
	if err != nil || !strings.HasPrefix(out, "mantlet ") || !strings.Contains(out, "(commit ") {
		t.Fatalf("%q, %v", out, err)
	}
}

// TestCredsShowJSON: creds show --json is one JSON document with its schema, public material
// only, and --reveal cannot go with it.
func TestCredsShowJSON(t *testing.T) {
	creds.ScryptWorkFactor = 10
	t.Setenv("MANTLET_PASSPHRASE", cliPass)
	dir := filepath.Join(t.TempDir(), "cluster")
	mustMantlet(t, "creds", "init", "--dir", dir, "--name", "prod", "--datacenter", "dc1")
	mustMantlet(t, "creds", "issue", "--dir", dir, "--node", "ctl-1", "--role", "control", "--ip", "10.0.0.11")
	out := mustMantlet(t, "creds", "show", "--dir", dir, "--json")
	var got struct {
		Schema    string
		Cluster   string
		Permitted *creds.Permitted
		CAs       []struct {
			Fingerprint string
			Signing     bool
		}
		Nodes []struct {
			Name, Role string
			IPs        []string
		}
		Secrets []struct {
			Kind  string
			Names []string
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Schema != creds.ShowJSONSchema || got.Cluster != "prod" || got.Permitted == nil || len(got.CAs) != 1 || !got.CAs[0].Signing ||
		len(got.Nodes) != 1 || got.Nodes[0].Name != "ctl-1" || len(got.Secrets) != len(creds.Kinds) {
		t.Fatalf("got %+v", got)
	}
	if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, cliPass) {
		t.Fatal("secret material in the JSON")
	}
	if _, err := mantlet(t, "creds", "show", "--dir", dir, "--json", "--reveal"); exitCode(context.Background(), err) != exitUsage {
		t.Fatalf("--json --reveal: %v", err)
	}
}

// TestBuildJSONLinesHaveASchema: every line of build --json names its schema.
func TestBuildJSONLinesHaveASchema(t *testing.T) {
	var b bytes.Buffer
	r := jsonReporter(&b)
	r(pipeline.Event{Step: "prepare", Index: 1, Total: 11, Status: "started"})
	r(pipeline.Event{Step: "prepare", Index: 1, Total: 11, Status: "failed", Err: "boom"})
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev["schema"] != buildJSONSchema {
			t.Errorf("line %s: %v", line, err)
		}
	}
}

// TestFlagValueCompletion: the shell completion offers the values of flags with a fixed set
// and the entries of a --format list.
func TestFlagValueCompletion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "creds", "issue", "--role", ""}, []string{"control", "worker"}},
		{[]string{"__complete", "build", "--format", "raw,"}, []string{"raw,qcow2", "raw,vmdk", "raw,vhd"}},
		{[]string{"__complete", "creds", "rotate", "--dir", "x", ""}, []string{"ca", "gossip", "node-certs"}},
		{[]string{"__complete", "creds", "init", "--key-type", ""}, []string{"ecdsa-p256", "rsa-3072"}},
		{[]string{"__complete", "audit", "--accel", ""}, []string{"auto", "kvm", "tcg"}},
		{[]string{"__complete", "build", "--image", ""}, []string{"yaml", "yml"}}, // file extensions for the shell
	} {
		out, err := mantlet(t, tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w+"\n") {
				t.Errorf("%v: no %q in\n%s", tc.args, w, out)
			}
		}
	}
}

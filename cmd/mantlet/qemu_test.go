package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/qemu"
)

func TestQemuRunOptionsNameTheBadFlag(t *testing.T) {
	dir := t.TempDir()
	image := filepath.Join(dir, "node.qcow2")
	if err := os.WriteFile(image, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	good := func() qemuRunOptions {
		return qemuRunOptions{memory: 1536, cpus: 2, accel: "auto", timeout: 10 * time.Minute}
	}
	tests := []struct {
		name       string
		image      string
		change     func(*qemuRunOptions)
		timeoutSet bool
		want       []string // "" for success
	}{
		{name: "defaults", image: image},
		{name: "missing image", image: filepath.Join(dir, "nope.qcow2"), want: []string{"IMAGE:", "no such file"}},
		{name: "bad accel", image: image, change: func(o *qemuRunOptions) { o.accel = "hvf" }, want: []string{"--accel:", "hvf"}},
		{name: "missing ignition", image: image, change: func(o *qemuRunOptions) { o.ignition = filepath.Join(dir, "n.ign") }, want: []string{"--ignition:"}},
		{name: "every error at once", image: dir, change: func(o *qemuRunOptions) { o.accel, o.memory, o.cpus, o.sshPort = "x", 0, -1, 70000 },
			want: []string{"IMAGE:", "--accel:", "--memory:", "--cpus:", "--ssh-port:"}},
		{name: "bad disk size", image: image, change: func(o *qemuRunOptions) { o.diskSize = "lots" }, want: []string{"--disk-size:"}},
		{name: "disk size with persist", image: image, change: func(o *qemuRunOptions) { o.diskSize, o.persist = "20G", true }, want: []string{"--disk-size:", "--persist"}},
		{name: "timeout without wait-for", image: image, timeoutSet: true, want: []string{"--timeout:", "--wait-for"}},
		{name: "timeout with wait-for", image: image, timeoutSet: true, change: func(o *qemuRunOptions) { o.waitFor = "login: " }},
		{name: "console log in a missing directory", image: image, change: func(o *qemuRunOptions) { o.consoleLog = filepath.Join(dir, "no/boot.log") }, want: []string{"--console-log:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good()
			if tt.change != nil {
				tt.change(&o)
			}
			opts, err := o.options(tt.image, tt.timeoutSet, nil)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if opts.Image != tt.image || opts.MemoryMiB != 1536 || opts.Accel != qemu.AccelAuto {
					t.Errorf("options = %+v", opts)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// fakeQemuOptions returns options that run script in place of qemu-system-x86_64.
func fakeQemuOptions(t *testing.T, script string) qemu.Options {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"qemu": "#!/bin/sh\n" + script, "node.raw": "", "CODE.fd": "", "VARS.fd": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return qemu.Options{
		Image: filepath.Join(dir, "node.raw"), Persist: true, Accel: qemu.AccelTCG, Binary: filepath.Join(dir, "qemu"),
		Firmware: &qemu.Firmware{Code: filepath.Join(dir, "CODE.fd"), Vars: filepath.Join(dir, "VARS.fd")}, TempDir: dir,
	}
}

func TestRunQemu(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		waitFor  string
		wantCode int
		wantErr  error
	}{
		{name: "wait-for seen", script: "echo 'node-1 login: '; exec sleep 300", waitFor: "login: "},
		{name: "wait-for and a panic", script: "echo 'Kernel panic - not syncing: x'; exec sleep 300", waitFor: "login: ", wantErr: qemu.ErrProblem},
		{name: "wait-for and qemu exits", script: "exit 1", waitFor: "login: ", wantErr: qemu.ErrExited},
		{name: "exit status passed on", script: "echo bye; exit 3", wantCode: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code, err := runQemu(context.Background(), fakeQemuOptions(t, tt.script), tt.waitFor, time.Minute, "admin", &stderr)
			if !errors.Is(err, tt.wantErr) || code != tt.wantCode {
				t.Fatalf("runQemu = %d, %v; want %d, %v", code, err, tt.wantCode, tt.wantErr)
			}
			if !strings.Contains(stderr.String(), "ssh -p ") || !strings.Contains(stderr.String(), " admin@127.0.0.1") {
				t.Errorf("stderr %q has no ssh hint", stderr.String())
			}
		})
	}
}

func TestRunQemuStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	code, err := runQemu(ctx, fakeQemuOptions(t, "exec sleep 300"), "", 0, "admin", &bytes.Buffer{})
	// sleep dies of SIGTERM: no exit status to pass on, so the error says how it ended.
	if err == nil || code != 0 {
		t.Fatalf("runQemu = %d, %v; want the signal reported", code, err)
	}
}

// `qemu cluster` checks its flags and the whole cluster file before it starts anything, and
// names every problem at once.
func TestQemuClusterRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("network: {cidr: 10.88.0.1/24}\nnodes:\n  - {name: A}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no file", []string{"qemu", "cluster", filepath.Join(dir, "none.yaml")}, []string{"read cluster file", "no such file"}},
		{"flags and file at once", []string{"qemu", "cluster", bad, "--accel", "hvf", "--timeout", "5m", "--ssh-config", filepath.Join(dir, "no/dir/ssh_config")},
			[]string{"--accel:", "--timeout: only with --wait-for", "--ssh-config:", "bad.yaml:1: network.cidr: 10.88.0.1/24: not a network address",
				`bad.yaml:3: nodes[0].name: "A"`, "nodes[0].image: not set", "nodes[0].ignition: not set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mantlet(t, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

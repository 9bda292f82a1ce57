package providers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/internal/command"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		in   string
		want Cmdline
	}{
		{"", Cmdline{}},
		{"ro quiet\n", Cmdline{"ro": "", "quiet": ""}},
		{"ignition.platform.id=qemu console=ttyS0,115200", Cmdline{ParamPlatform: "qemu", "console": "ttyS0,115200"}},
		{`a="b c" d`, Cmdline{"a": "b c", "d": ""}},
		{`"a=b c"`, Cmdline{"a": "b c"}},
		{"x=1 x=2", Cmdline{"x": "2"}},
		{"x=1 -- ignition.platform.id=file", Cmdline{"x": "1"}},
		{"\tk=v=w  ", Cmdline{"k": "v=w"}},
	}
	for _, tt := range tests {
		if got := ParseCmdline(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseCmdline(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	if got := Names(); !reflect.DeepEqual(got, []string{"aws", "file", "gcp", "metal", "openstack", "qemu"}) {
		t.Fatalf("Names() = %v", got)
	}
	_, err := Get("azure")
	if !errors.Is(err, ErrUnknownPlatform) || !strings.Contains(err.Error(), "aws, file, gcp, metal, openstack, qemu") {
		t.Fatalf("Get(azure) = %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering qemu twice did not panic")
		}
	}()
	Register(qemu{})
}

// fakeSysfs builds a sysfs tree; with fwcfg the fw_cfg directory exists, with config it
// holds the config entry.
func fakeSysfs(t *testing.T, fwcfg bool, config string) string {
	t.Helper()
	sys := t.TempDir()
	if fwcfg {
		dir := filepath.Join(sys, "firmware/qemu_fw_cfg/by_name")
		if config != "" {
			dir = filepath.Join(dir, FwCfgKey)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if config != "" {
			if err := os.WriteFile(filepath.Join(dir, "raw"), []byte(config), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return sys
}

func TestQemu(t *testing.T) {
	tests := []struct {
		name      string
		fwcfg     bool
		loads     bool // modprobe makes the device appear
		config    string
		want      string
		noConfig  bool
		modprobes int
	}{
		{name: "config", fwcfg: true, config: `{"ignition":{}}`, want: `{"ignition":{}}`},
		{name: "no entry", fwcfg: true, noConfig: true},
		{name: "no device", noConfig: true, modprobes: 1},
		{name: "module loaded on demand", loads: true, noConfig: true, modprobes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := fakeSysfs(t, tt.fwcfg, tt.config)
			rec := &command.Recorder{Respond: func(c command.Cmd) ([]byte, error) {
				if !tt.loads {
					return nil, errors.New("modprobe: FATAL: Module qemu_fw_cfg not found")
				}
				return nil, os.MkdirAll(filepath.Join(sys, "firmware/qemu_fw_cfg/by_name"), 0o755)
			}}
			p, err := Get("qemu")
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Fetch(context.Background(), Env{Sysfs: sys, Runner: rec})
			if tt.noConfig != errors.Is(err, ErrNoConfig) {
				t.Fatalf("err = %v, want no config: %v", err, tt.noConfig)
			}
			if !tt.noConfig && (err != nil || string(got) != tt.want) {
				t.Fatalf("got %q, %v", got, err)
			}
			if len(rec.Calls) != tt.modprobes {
				t.Fatalf("calls = %v", rec.Calls)
			}
			for _, c := range rec.Calls {
				if !reflect.DeepEqual(c, ModprobeCmd()) || c.String() != "modprobe qemu_fw_cfg" {
					t.Fatalf("call %v", c)
				}
			}
		})
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.ign")
	os.WriteFile(cfg, []byte("{}"), 0o600)
	p, _ := Get("file")
	tests := []struct {
		name     string
		env      Env
		want     string
		noConfig bool
		fails    bool
	}{
		{name: "cmdline", env: Env{Cmdline: Cmdline{ParamConfigFile: cfg}}, want: "{}"},
		{name: "flag wins", env: Env{Cmdline: Cmdline{ParamConfigFile: "/nope"}, ConfigFile: cfg}, want: "{}"},
		{name: "no path", noConfig: true},
		{name: "missing file", env: Env{ConfigFile: filepath.Join(dir, "nope")}, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Fetch(context.Background(), tt.env)
			switch {
			case tt.noConfig:
				if !errors.Is(err, ErrNoConfig) {
					t.Fatalf("err = %v", err)
				}
			case tt.fails:
				if err == nil || errors.Is(err, ErrNoConfig) {
					t.Fatalf("err = %v", err)
				}
			case err != nil || string(got) != tt.want:
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	tests := []struct {
		name     string
		platform string
		cmdline  string
		fwcfg    bool
		want     string // "" for no provider
		err      error
	}{
		{name: "cmdline qemu", cmdline: "ignition.platform.id=qemu", want: "qemu"},
		{name: "cmdline file", cmdline: "ignition.platform.id=file ignition.config.file=/x", want: "file"},
		{name: "flag wins", platform: "file", cmdline: "ignition.platform.id=qemu", want: "file"},
		{name: "detect qemu", fwcfg: true, want: "qemu"},
		{name: "nothing", want: ""},
		{name: "unknown", cmdline: "ignition.platform.id=azure", err: ErrUnknownPlatform},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := Env{Cmdline: ParseCmdline(tt.cmdline), Sysfs: fakeSysfs(t, tt.fwcfg, ""), Runner: &command.Recorder{}}
			p, err := Select(context.Background(), tt.platform, env)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			got := ""
			if p != nil {
				got = p.Name()
			}
			if got != tt.want {
				t.Fatalf("provider %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadCmdline(t *testing.T) {
	f := filepath.Join(t.TempDir(), "cmdline")
	os.WriteFile(f, []byte("ignition.platform.id=qemu ro\n"), 0o644)
	c, err := ReadCmdline(f)
	if err != nil || c[ParamPlatform] != "qemu" {
		t.Fatalf("%v, %v", c, err)
	}
	if _, err := ReadCmdline(f + ".missing"); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func FuzzParseCmdline(f *testing.F) {
	f.Add("BOOT_IMAGE=/vmlinuz ro ignition.platform.id=qemu console=ttyS0")
	f.Add(`a="b c" -- init args`)
	f.Fuzz(func(t *testing.T, s string) {
		c := ParseCmdline(s)
		for k, v := range c {
			if strings.ContainsAny(k, " \t\n\"") && !strings.Contains(s, `"`) {
				t.Fatalf("key %q has white space", k)
			}
			if len(k)+len(v) > len(s) {
				t.Fatalf("word longer than the input")
			}
		}
	})
}

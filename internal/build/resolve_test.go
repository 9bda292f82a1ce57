package build

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/internal/command"
)

// simulation is what apt-get --simulate prints (bookworm's apt 2.6), trimmed.
const simulation = `NOTE: This is only a simulation!
      apt-get needs root privileges for real execution.
Reading package lists...
Building dependency tree...
The following NEW packages will be installed:
  base-files libc6 linux-image-6.1.0-28-cloud-amd64 tzdata
Inst base-files (12.4+deb12u11 Debian:12.11/stable [amd64])
Conf base-files (12.4+deb12u11 Debian:12.11/stable [amd64])
Inst libc6 (2.36-9+deb12u10 Debian:12.11/stable, Debian-Security:12/stable-security [amd64]) []
Inst tzdata (2025b-0+deb12u1 Debian:12.11/stable [all])
Inst linux-image-6.1.0-28-cloud-amd64 (6.1.119-1 local-deb [amd64])
Conf libc6 (2.36-9+deb12u10 Debian:12.11/stable [amd64])
`

func TestParseSimulation(t *testing.T) {
	got, err := parseSimulation([]byte(simulation))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "base-files", Version: "12.4+deb12u11", Arch: "amd64"},
		{Name: "libc6", Version: "2.36-9+deb12u10", Arch: "amd64"},
		{Name: "linux-image-6.1.0-28-cloud-amd64", Version: "6.1.119-1", Arch: "amd64"},
		{Name: "tzdata", Version: "2025b-0+deb12u1", Arch: "all"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{"Reading package lists...\n", "Inst broken line\n"} {
		if _, err := parseSimulation([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestAptSimulateArgs(t *testing.T) {
	got := aptSimulateArgs(testPlan(), "/tmp/k/linux.deb")
	want := []string{"install", "--simulate", "-q",
		"?narrow(?or(?archive(^bookworm$),?codename(^bookworm$)),?architecture(amd64),?essential)",
		"?narrow(?or(?archive(^bookworm$),?codename(^bookworm$)),?architecture(amd64),?and(?priority(required),?not(?essential)))",
		"linux-image-amd64", "openssh-server", "systemd", "/tmp/k/linux.deb"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
}

func TestAptConfigGolden(t *testing.T) {
	golden(t, "apt.conf.golden", []byte(aptConfig(newAptEnv("/cache", testPlan()))))
}

func TestListsDigest(t *testing.T) {
	dir := t.TempDir()
	release := "Origin: Debian\nDate: Sat, 01 Mar 2025 10:00:00 UTC\nSHA256:\n 0123 100 main/binary-amd64/Packages\n 4567 50 main/binary-amd64/Packages.xz\n"
	write := func(name, data string) { os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644) }
	write("m_debian_dists_bookworm_InRelease", release)
	write("m_debian_dists_bookworm_main_binary-amd64_Packages", "Package: a\n")
	write("lock", "")
	os.Mkdir(filepath.Join(dir, "partial"), 0o755)
	d1, err := listsDigest(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Re-dated, same indices: the same digest.
	write("m_debian_dists_bookworm_InRelease", strings.Replace(release, "10:00", "16:00", 1))
	if d, _ := listsDigest(dir); d != d1 {
		t.Error("a new Date changed the digest")
	}
	// Another Packages index: another digest.
	write("m_debian_dists_bookworm_InRelease", strings.Replace(release, "0123 100", "89ab 101", 1))
	if d, _ := listsDigest(dir); d == d1 {
		t.Error("a changed index kept the digest")
	}
	// A list without a release file counts by its content.
	write("flat_Packages", "Package: b\n")
	d2, _ := listsDigest(dir)
	write("flat_Packages", "Package: c\n")
	if d3, _ := listsDigest(dir); d3 == d2 {
		t.Error("a list without a release file is not in the digest")
	}
}

// fakeApt answers apt-get update, --version and --simulate, counting the simulations.
type fakeApt struct {
	simulations int
	lists       string // written into the lists directory by update
}

func (f *fakeApt) Run(_ context.Context, c command.Cmd) ([]byte, error) {
	switch {
	case len(c.Args) > 0 && c.Args[0] == "--version":
		return []byte(c.Name + " 1.0 (amd64)\nmore\n"), nil
	case c.Name == "apt-get" && c.Args[0] == "update":
		conf := strings.TrimPrefix(c.Env[0], "APT_CONFIG=")
		lists := filepath.Join(filepath.Dir(conf), "lists")
		return nil, os.WriteFile(filepath.Join(lists, "m_dists_bookworm_InRelease"), []byte("SHA256:\n "+f.lists+" 1 main/binary-amd64/Packages\n"), 0o644)
	case c.Name == "apt-get" && c.Args[0] == "install":
		f.simulations++
		return []byte(simulation), nil
	}
	return nil, nil
}

// TestResolveKeepsAnswers runs the resolve step three times: the same lists give the kept
// answer without asking apt again; other lists are asked again and give another layer key.
func TestResolveKeepsAnswers(t *testing.T) {
	cache := t.TempDir()
	apt := &fakeApt{lists: "aaaa"}
	resolve := func() *State {
		t.Helper()
		work := t.TempDir()
		st := &State{Plan: testPlan(), Opts: Options{CacheDir: cache, Runner: apt}, WorkDir: work, StageDir: filepath.Join(work, "stage")}
		if err := (&stepStage{}).Run(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		if err := (&stepResolve{}).Run(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	a := resolve()
	if apt.simulations != 1 || len(a.Resolved) != 4 || len(a.LayerKey) != 64 {
		t.Fatalf("first: %d simulations, %d packages, key %q", apt.simulations, len(a.Resolved), a.LayerKey)
	}
	if _, err := os.Stat(filepath.Join(a.listsDir, "m_dists_bookworm_InRelease")); err != nil {
		t.Fatalf("the lists are not in the work directory for mmdebstrap: %v", err)
	}
	b := resolve()
	if apt.simulations != 1 || b.LayerKey != a.LayerKey {
		t.Fatalf("same lists: %d simulations, key %s vs %s", apt.simulations, b.LayerKey, a.LayerKey)
	}
	apt.lists = "bbbb"
	c := resolve()
	if apt.simulations != 2 {
		t.Fatalf("new lists were not resolved again: %d simulations", apt.simulations)
	}
	if c.LayerKey != a.LayerKey {
		t.Fatal("the same versions from other lists gave another layer key")
	}
}

// The layer key follows everything that reaches dpkg, and nothing that does not.
func TestLayerKey(t *testing.T) {
	base := func() *State {
		work := t.TempDir()
		st := &State{Plan: testPlan(), WorkDir: work, StageDir: filepath.Join(work, "stage"), Resolved: fakePackages,
			toolVers: map[string]string{"mmdebstrap": "mmdebstrap 1.3.5"}}
		if err := (&stepStage{}).Run(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	key := func(st *State) string {
		k, err := layerKey(st)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k0 := key(base())
	for name, change := range map[string]func(*State){
		"a package version": func(st *State) {
			st.Resolved = []Package{fakePackages[0], {Name: "sudo", Version: "1.9.13p3-1+deb12u2", Arch: "amd64"}}
		},
		"a package":           func(st *State) { st.Plan.Packages = append(st.Plan.Packages, "vim") },
		"an initrd module":    func(st *State) { st.Plan.InitrdModules = append(st.Plan.InitrdModules, "nvme") },
		"an exclude":          func(st *State) { st.Plan.Exclude = append(st.Plan.Exclude, "/usr/share/man/*") },
		"the mirror":          func(st *State) { st.Plan.Sources[0].URI = "http://other.example/debian" },
		"mmdebstrap":          func(st *State) { st.toolVers = map[string]string{"mmdebstrap": "mmdebstrap 1.4.0"} },
		"SOURCE_DATE_EPOCH":   func(st *State) { st.Plan.SourceDateEpoch++ },
		"the mmdebstrap mode": func(st *State) { st.Opts.Mode = "unshare" },
	} {
		st := base()
		change(st)
		if err := (&stepStage{}).Run(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		if key(st) == k0 {
			t.Errorf("%s does not change the key", name)
		}
	}
	for name, change := range map[string]func(*State){
		"a profile file": func(st *State) { st.Plan.Files[0].Data = []byte("changed\n") },
		"a unit":         func(st *State) { st.Plan.Enable = append(st.Plan.Enable, "x.service") },
		"the cmdline":    func(st *State) { st.Plan.Cmdline = append(st.Plan.Cmdline, "quiet") },
		"docker":         func(st *State) { st.Plan.Docker = nil },
		"a format":       func(st *State) { st.Plan.Formats = []string{"raw"} },
	} {
		st := base()
		change(st)
		if key(st) != k0 {
			t.Errorf("%s changes the key: it is configuration, not the package layer", name)
		}
	}
}

package firstboot

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/firstboot/stages"
)

func TestImageFiles(t *testing.T) {
	files := ImageFiles()
	byPath := map[string]ImageFile{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	unit, ok := byPath[UnitPath]
	if !ok || unit.Mode != 0o644 || unit.Symlink != "" {
		t.Fatalf("unit = %+v", unit)
	}
	for _, line := range []string{
		"Type=oneshot", "RemainAfterExit=yes", "ExecStart=" + BinaryPath + " run",
		"StandardOutput=journal+console", "StandardError=journal+console",
		"ConditionPathExists=!" + StampDone, "Before=ssh.service systemd-user-sessions.service",
	} {
		if !strings.Contains(string(unit.Data), "\n"+line+"\n") {
			t.Errorf("unit lacks %q", line)
		}
	}
	dropIn, ok := byPath[SSHDropInPath]
	if !ok || !strings.Contains(string(dropIn.Data), "\nWants="+UnitName+"\n") || !strings.Contains(string(dropIn.Data), "\nAfter="+UnitName+"\n") {
		t.Fatalf("ssh drop-in = %q", dropIn.Data)
	}
	if strings.Contains(string(dropIn.Data), "\nRequires=") {
		t.Fatal("sshd must start when first boot fails")
	}

	target, ok := byPath[ClusterTargetPath]
	if !ok {
		t.Fatal("no cluster target")
	}
	ts := parseUnit(t, ClusterTarget, string(target.Data))
	if !slices.Contains(ts["Unit"]["Requires"], UnitName) || !slices.Contains(ts["Unit"]["After"], UnitName) || !slices.Contains(ts["Install"]["WantedBy"], "multi-user.target") {
		t.Errorf("cluster target %v", ts)
	}
	if l := byPath[ClusterTargetWants]; l.Symlink != ClusterTargetPath {
		t.Errorf("cluster target not enabled: %+v", l)
	}

	booted, ok := byPath[BootedUnitPath]
	if !ok {
		t.Fatal("no boot-finished unit")
	}
	bs := parseUnit(t, BootedUnit, string(booted.Data))
	if !slices.Contains(bs["Unit"]["After"], "multi-user.target") || !slices.Contains(bs["Unit"]["DefaultDependencies"], "no") ||
		!slices.Contains(bs["Install"]["WantedBy"], "multi-user.target") || !strings.Contains(string(booted.Data), BootedMarker) {
		t.Errorf("boot-finished unit %v", bs)
	}
	if l := byPath[BootedUnitWants]; l.Symlink != BootedUnitPath {
		t.Errorf("boot-finished unit not enabled: %+v", l)
	}

	// every cluster component requires first boot
	for _, u := range Components {
		f, ok := byPath["/usr/lib/systemd/system/"+u+".d/10-mantlet-firstboot.conf"]
		if !ok || f.Mode != 0o644 || f.Symlink != "" {
			t.Errorf("%s: drop-in %+v", u, f)
			continue
		}
		sections := parseUnit(t, u, string(f.Data))
		unitSec := sections["Unit"]
		if len(sections) != 1 || !slices.Contains(unitSec["Requires"], UnitName) || !slices.Contains(unitSec["After"], UnitName) {
			t.Errorf("%s: drop-in %v", u, sections)
		}
		if !slices.Contains(parseUnit(t, UnitPath, string(unit.Data))["Unit"]["Before"], u) {
			t.Errorf("the unit is not ordered before %s", u)
		}
	}
	for _, u := range []string{"docker.service", "consul.service", "consul-template.service", "nginx.service",
		"zookeeper.service", "mesos-master.service", "mesos-agent.service", "marathon.service", "stunnel4.service"} {
		if !slices.Contains(Components, u) {
			t.Errorf("no drop-in for %s", u)
		}
	}
	for _, f := range files {
		if f.Symlink == "" {
			parseUnit(t, f.Path, string(f.Data))
		}
	}

	// the enablement symlinks are exactly what the unit's [Install] section asks for
	in, err := stages.ParseInstall(string(unit.Data))
	if err != nil {
		t.Fatal(err)
	}
	var links []ImageFile
	for _, f := range files {
		if f.Symlink != "" && f.Path != ClusterTargetWants && f.Path != BootedUnitWants {
			links = append(links, f)
			if f.Mode != fs.ModeSymlink|0o777 || f.Symlink != UnitPath {
				t.Errorf("symlink %+v", f)
			}
		}
	}
	if len(links) != len(in.WantedBy) {
		t.Fatalf("links %v for WantedBy %v", links, in.WantedBy)
	}
	for i, target := range in.WantedBy {
		if want := path.Join("/etc/systemd/system", target+".wants", UnitName); links[i].Path != want {
			t.Errorf("link %s, want %s", links[i].Path, want)
		}
	}
	// callers may change what they get
	files[0].Data[0] = 'X'
	if ImageFiles()[0].Data[0] == 'X' {
		t.Fatal("ImageFiles shares its bytes")
	}
}

// parseUnit parses a unit file as systemd does (sections, key=value, comments, no
// continuation lines here) and fails on anything else.
func parseUnit(t *testing.T, name, s string) map[string]map[string][]string {
	t.Helper()
	sections := map[string]map[string][]string{}
	var cur map[string][]string
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			cur = map[string][]string{}
			sections[line[1:len(line)-1]] = cur
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || cur == nil || strings.HasSuffix(line, "\\") {
				t.Fatalf("%s:%d: not a unit file line: %q", name, i+1, line)
			}
			cur[strings.TrimSpace(k)] = append(cur[strings.TrimSpace(k)], strings.Fields(v)...)
		}
	}
	return sections
}

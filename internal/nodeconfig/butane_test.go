package nodeconfig

import (
	"strings"
	"testing"
)

func TestFromButane(t *testing.T) {
	bu := "variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: /etc/motd\n      mode: 0644\n      contents:\n        inline: hello\n"
	out, err := FromButane([]byte(bu))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"version":"3.4.0"`) || !strings.Contains(string(out), `"/etc/motd"`) {
		t.Fatalf("translation: %s", out)
	}
	// And it merges into a node config like Ignition JSON does.
	if _, err := Generate(fixed("worker"), out); err != nil {
		t.Fatalf("merge the translated config: %v", err)
	}
	for _, bad := range []string{
		"variant: fcos\nversion: 9.9.9\n",
		"variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: /etc/x\n      contents:\n        local: x\n",
		"not: [yaml",
	} {
		if _, err := FromButane([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if !IsButane("extra.bu") || !IsButane("x.YAML") || IsButane("extra.ign") {
		t.Error("IsButane")
	}
}

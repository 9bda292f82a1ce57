package build

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/tartree"
)

func TestVisudoArgs(t *testing.T) {
	if got := strings.Join(visudoArgs("/w/etc/sudoers"), " "); got != "--check --strict --file=/w/etc/sudoers" {
		t.Errorf("visudoArgs = %s", got)
	}
}

// The image's sudoers files, included from the main file, pass this machine's real visudo
// when they are good and fail the build with a typo or an undefined alias.
func TestCheckSudoers(t *testing.T) {
	if _, err := exec.LookPath("visudo"); err != nil {
		t.Skip("visudo not installed (Debian package sudo; make deps)")
	}
	main := "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n"
	for _, tc := range []struct {
		name, admins, want string
	}{
		{"good", "%sudo ALL=(ALL:ALL) NOPASSWD: ALL\nDefaults use_pty\n", ""},
		{"typo", "%sudo ALL=(ALL:ALL NOPASSWD: ALL\n", "/etc/sudoers.d/mantlet-admins"},
		{"undefined alias", "%sudo ALL=(ALL:ALL) NOPASSWD: ADMINCMDS\n", "ADMINCMDS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := []layerMember{dir("./"), dir("./etc/"), file("./etc/sudoers", main), dir("./etc/sudoers.d/"),
				file("./etc/sudoers.d/README", "# sudo skips no file without a dot: comments only\n"),
				file("./etc/sudoers.d/mantlet-admins", tc.admins)}
			tr, err := tartree.Open(writeLayer(t, ms), time.Unix(1735689600, 0))
			if err != nil {
				t.Fatal(err)
			}
			err = checkSudoers(context.Background(), command.Exec{}, tr, t.TempDir())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("good sudoers refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "visudo")):
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
	// No sudo in the image: nothing to check.
	tr, _ := tartree.Open(writeLayer(t, []layerMember{dir("./"), dir("./etc/")}), time.Unix(1735689600, 0))
	if err := checkSudoers(context.Background(), command.Exec{}, tr, t.TempDir()); err != nil {
		t.Errorf("no sudoers: %v", err)
	}
}

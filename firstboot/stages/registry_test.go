package stages

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/coreos/ignition/v2/config/v3_6/types"
)

func TestRegistryOrder(t *testing.T) {
	var names []string
	for _, s := range All() {
		names = append(names, s.Name())
	}
	if !reflect.DeepEqual(names, []string{"passwd", "storage", "units"}) {
		t.Fatalf("order %v", names)
	}
	if got := Names(); !reflect.DeepEqual(got, []string{"passwd", "storage", "units"}) {
		t.Fatalf("names %v", got)
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	for _, tt := range []struct {
		order int
		s     Stage
	}{{99, storageStage{}}, {20, fakeStage("other")}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%d, %s) did not panic", tt.order, tt.s.Name())
				}
			}()
			Register(tt.order, tt.s)
		}()
	}
}

type fakeStage string

func (f fakeStage) Name() string { return string(f) }
func (f fakeStage) Prepare(context.Context, *Env, types.Config) (Action, error) {
	return nil, nil
}

// TestApplyWritesNothingOnError: a unit that cannot be enabled stops the whole config
// before the files and users of earlier stages are written.
func TestApplyWritesNothingOnError(t *testing.T) {
	env, rec := newEnv(t, baseFiles)
	cfg := parse(t, `{"ignition":{"version":"3.4.0"},
		"passwd":{"users":[{"name":"core"}]},
		"storage":{"files":[{"path":"/etc/written","contents":{"source":"data:,x"}}]},
		"systemd":{"units":[{"name":"nope.service","enabled":true}]}}`)
	before := listing(t, env.FS.Dir())
	err := Apply(context.Background(), env, cfg)
	if err == nil || !strings.HasPrefix(err.Error(), "units: $.systemd.units[0].enabled") {
		t.Fatalf("err = %v", err)
	}
	if after := listing(t, env.FS.Dir()); after != before {
		t.Fatalf("tree changed:\n%s", after)
	}
	if len(rec.Calls) != 0 {
		t.Fatalf("ran %v", rec.Calls)
	}
	if _, err := os.Stat(filepath.Join(env.FS.Dir(), "etc/written")); !os.IsNotExist(err) {
		t.Fatal("file written")
	}
}

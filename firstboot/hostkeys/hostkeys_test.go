package hostkeys

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/firstboot/rootfs"
)

func open(t *testing.T) *rootfs.FS {
	t.Helper()
	fsys, err := rootfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

func TestEnsureMakesEveryKindOnce(t *testing.T) {
	fsys := open(t)
	made, err := Ensure(fsys, "root@test")
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != 3 {
		t.Fatalf("made %v", made)
	}
	for _, k := range Kinds {
		for file, perm := range map[string]os.FileMode{k.Path(): 0o600, k.Path() + ".pub": 0o644} {
			fi, err := os.Stat(filepath.Join(fsys.Dir(), file))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != perm {
				t.Errorf("%s: mode %v, want %v", file, fi.Mode(), perm)
			}
		}
	}
	before, err := Fingerprints(fsys)
	if err != nil || len(before) != 3 {
		t.Fatalf("fingerprints %v, %v", before, err)
	}
	made, err = Ensure(fsys, "root@test")
	if err != nil || len(made) != 0 {
		t.Fatalf("second Ensure made %v, %v", made, err)
	}
	after, _ := Fingerprints(fsys)
	for i := range before {
		if before[i].Fingerprint != after[i].Fingerprint {
			t.Fatalf("key %s changed", before[i].Kind.Label)
		}
		if !strings.HasPrefix(before[i].Fingerprint, "SHA256:") || strings.HasSuffix(before[i].Fingerprint, "=") {
			t.Fatalf("fingerprint %q", before[i].Fingerprint)
		}
	}
}

func TestEnsureRepairsPublicKey(t *testing.T) {
	fsys := open(t)
	if _, err := Ensure(fsys, "c"); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(fsys.Dir(), Kinds[2].Path()+".pub")
	want, _ := os.ReadFile(pub)
	os.Remove(pub)
	made, err := Ensure(fsys, "c")
	if err != nil || len(made) != 0 {
		t.Fatalf("made %v, %v", made, err)
	}
	got, _ := os.ReadFile(pub)
	if !bytes.Equal(got, want) {
		t.Fatalf("public key %q, want %q", got, want)
	}
}

// TestFingerprintsMatchSSHKeygen checks the fingerprints against ssh-keygen -lf, which the
// test harness's users compare them with.
func TestFingerprintsMatchSSHKeygen(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed (openssh-client)")
	}
	fsys := open(t)
	if _, err := Ensure(fsys, "root@test"); err != nil {
		t.Fatal(err)
	}
	keys, err := Fingerprints(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		out, err := exec.Command("ssh-keygen", "-lf", filepath.Join(fsys.Dir(), k.Kind.Path())).Output()
		if err != nil {
			t.Fatalf("ssh-keygen -lf %s: %v", k.Kind.Path(), err)
		}
		fields := strings.Fields(string(out))
		if len(fields) < 2 || fields[1] != k.Fingerprint || fields[len(fields)-1] != "("+k.Kind.Label+")" {
			t.Errorf("ssh-keygen says %q, we say %s %s", out, k.Kind.Label, k.Fingerprint)
		}
	}
}

func TestFingerprintsRejectsGarbage(t *testing.T) {
	fsys := open(t)
	if err := fsys.WriteFile(Kinds[0].Path(), []byte("not a key"), 0o600, rootfs.NoOwner); err != nil {
		t.Fatal(err)
	}
	if _, err := Fingerprints(fsys); err == nil {
		t.Fatal("no error for a broken key")
	}
}

func TestMain(m *testing.M) {
	RSABits = 2048
	os.Exit(m.Run())
}

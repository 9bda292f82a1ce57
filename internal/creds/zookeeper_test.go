package creds

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

const zookeeperJar = "/usr/share/java/zookeeper.jar" // Debian's; its manifest names the rest

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// startZooKeeper runs a standalone ZooKeeper on loopback with the super digest of the
// password; it returns the client address.
func startZooKeeper(t *testing.T, superPassword string) string {
	t.Helper()
	java, err := exec.LookPath("java")
	if _, serr := os.Stat(zookeeperJar); err != nil || serr != nil {
		t.Skip("ZooKeeper not installed (Debian package zookeeper, which brings java)")
	}
	dir := t.TempDir()
	port := freePort(t)
	cfg := fmt.Sprintf("tickTime=2000\ndataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=\nmaxClientCnxns=20\n", dir, port)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(java,
		"-Xmx256m",
		"-Dzookeeper.DigestAuthenticationProvider.superDigest=super:"+ZooKeeperDigest("super", superPassword),
		"-Dzookeeper.log.dir="+dir,
		"-cp", dir+":"+zookeeperJar,
		"org.apache.zookeeper.server.ZooKeeperServerMain", filepath.Join(dir, "zoo.cfg"))
	cmd.Dir = dir
	startServer(t, cmd)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(2 * time.Minute) // the JVM starts slowly on a busy machine
	for {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("ZooKeeper did not listen on %s within two minutes", addr)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func connect(t *testing.T, addr, user, password string) *zk.Conn {
	t.Helper()
	c, _, err := zk.Connect([]string{addr}, 30*time.Second, zk.WithLogger(quietLogger{}), zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// the first request waits for the session; retry while the server settles
	deadline := time.Now().Add(time.Minute)
	for {
		_, _, err := c.Exists("/")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ZooKeeper session: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if user != "" {
		if err := c.AddAuth("digest", []byte(user+":"+password)); err != nil {
			t.Fatalf("addauth digest %s: %v", user, err)
		}
	}
	return c
}

// A real ZooKeeper accepts `addauth digest` with the generated credentials: a node with an
// owner-only digest ACL made from ZooKeeperDigest is readable by its owner and by super
// (whose digest the server was started with), not by anybody else.
func TestZooKeeperAcceptsDigests(t *testing.T) {
	s, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	addr := startZooKeeper(t, s.ZooKeeper["super"])
	owner := connect(t, addr, "mesos", s.ZooKeeper["mesos"])
	acl := []zk.ACL{{Perms: zk.PermAll, Scheme: "digest", ID: "mesos:" + ZooKeeperDigest("mesos", s.ZooKeeper["mesos"])}}
	if _, err := owner.Create("/mesos", []byte("leader"), 0, acl); err != nil {
		t.Fatalf("create /mesos: %v", err)
	}
	for _, tc := range []struct {
		name, user, password string
		ok                   bool
	}{
		{"owner", "mesos", s.ZooKeeper["mesos"], true},
		{"super", "super", s.ZooKeeper["super"], true},
		{"anonymous", "", "", false},
		{"wrong password", "mesos", s.ZooKeeper["marathon"], false},
		{"other user", "marathon", s.ZooKeeper["marathon"], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := owner
			if tc.name != "owner" {
				c = connect(t, addr, tc.user, tc.password)
			}
			data, _, err := c.Get("/mesos")
			switch {
			case tc.ok && (err != nil || string(data) != "leader"):
				t.Fatalf("get /mesos: %v", err)
			case !tc.ok && !errors.Is(err, zk.ErrNoAuth):
				t.Fatalf("get /mesos: %v, want %v", err, zk.ErrNoAuth)
			}
		})
	}
}

package creds

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// freePort is a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer runs cmd until the test ends; its output goes to a log shown on failure.
func startServer(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), out.String())
		}
	})
}

// The htpasswd line is accepted by Debian's nginx: 200 with the password, 401 without or
// with a wrong one.
func TestHtpasswdNginx(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/nginx"); err != nil {
			t.Skip("nginx not installed (Debian package nginx-light or nginx)")
		}
		nginx = "/usr/sbin/nginx"
	}
	s, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(s.WebHtpasswd+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "www"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "www", "index.html"), []byte("ok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers read the 0600 file in the test's private directory
	}
	conf := fmt.Sprintf(`%s
daemon off;
master_process on;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  server {
    listen 127.0.0.1:%[3]d;
    location / {
      auth_basic "mantlet";
      auth_basic_user_file %[4]s;
      root %[2]s/www;
    }
  }
}
`, user, dir, port, htpasswd)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginx, "-t", "-q", "-e", dir+"/error.log", "-p", dir, "-c", confFile).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	startServer(t, exec.Command(nginx, "-e", dir+"/error.log", "-p", dir, "-c", confFile))

	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	get := func(user, pass string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(60 * time.Second)
	for get("", "") == 0 {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not answer on %s within a minute\n%s", url, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, tc := range []struct {
		user, pass string
		want       int
	}{
		{WebUser, s.WebPassword, 200},
		{"", "", 401},
		{WebUser, s.WebPassword + "x", 401},
		{"root", s.WebPassword, 401},
	} {
		if got := get(tc.user, tc.pass); got != tc.want {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Errorf("user %q: status %d, want %d\n%s", tc.user, got, tc.want, log)
		}
	}
}

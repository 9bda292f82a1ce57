// Command dockerprobe is the only process of the containers that the Docker tests start (the
// dockerd test of the rendered daemon.json in internal/spec, and the VM test): it prints what
// the container got from the daemon's settings. Built static (CGO_ENABLED=0), it is a whole
// image by itself.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

func main() {
	if f, err := os.Open("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "NoNewPrivs:") {
				fmt.Println(sc.Text())
			}
		}
		f.Close()
	}
	for _, p := range []string{"/proc/self/cgroup", "/proc/self/uid_map"} {
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Printf("%s: %v\n", p, err)
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			fmt.Printf("%s: %s\n", p, strings.Join(strings.Fields(line), " "))
		}
	}
}

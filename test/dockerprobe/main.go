// Command dockerprobe runs as the only process of a container started by the dockerd test of
// the rendered daemon.json: it prints what the container got from the daemon's settings.
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

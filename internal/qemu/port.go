package qemu

import (
	"fmt"
	"net"
)

// FreePort asks the kernel for a TCP port free on 127.0.0.1 at this moment. Another process
// may take it before QEMU binds it; QEMU then fails at once with a clear message.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

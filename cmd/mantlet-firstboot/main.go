// Command mantlet-firstboot is mantlet's first-boot agent: systemd runs "mantlet-firstboot
// run" once on a machine's first boot. See package firstboot.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mantlet/mantlet/firstboot"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		// run prints its own FAILED line, validate its problems
		if !errors.Is(err, firstboot.ErrFailed) && !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "mantlet-firstboot: error:", err)
		}
		os.Exit(1)
	}
}

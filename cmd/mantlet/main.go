// Command mantlet bakes hardened, immutable node images and boots them for tests.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	code := exitCode(ctx, err)
	stop()
	os.Exit(code)
}

//go:build unix

package testproc

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/understudy/understudy/procbridge/worker"
)

// WaitGoOn, in a worker, says ready, then waits for SIGUSR1 (the test's
// "go on"), and reports whether it came (false: the worker is being
// stopped). A worker that exits as soon as it is ready may be reported as
// never ready (procbridge.Start sees the death and the ready word at once
// and may pick either), so the helpers that end on their own wait for the
// test to see them ready first.
func WaitGoOn(ctx context.Context, w *worker.Worker) bool {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	w.Ready()
	select {
	case <-usr1:
		return true
	case <-ctx.Done():
		return false
	}
}

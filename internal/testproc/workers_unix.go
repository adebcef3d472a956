//go:build unix

package testproc

import (
	"context"
	"os"
	"strconv"

	"github.com/understudy/understudy/procbridge/worker"
)

func init() {
	// exit-when-told is ready, then, told to go on (SIGUSR1: WaitGoOn),
	// exits with the status its last argument says (0: a clean return).
	worker.Register("exit-when-told", func(ctx context.Context, w *worker.Worker) error {
		code, _ := strconv.Atoi(os.Args[len(os.Args)-1])
		if !WaitGoOn(ctx, w) || code == 0 {
			return nil
		}
		os.Exit(code)
		return nil
	})
}

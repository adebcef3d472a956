//go:build linux

package metrics_test

import (
	"context"
	"os"
	"runtime"
	"testing"

	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge/worker"
)

// TestMain runs a helper worker (internal/testproc registers them, and
// this file one more) when the test binary is re-executed as one.
func TestMain(m *testing.M) { testproc.Run(m) }

func init() {
	// standby is a hot-standby worker that does nothing: ready, then parked
	// until it is the primary, then until it is stopped.
	worker.Register("standby", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		if err := w.WaitActive(ctx); err != nil {
			return nil
		}
		<-ctx.Done()
		return nil
	})
}

func init() {
	// hog says ready, then allocates and touches memory a MiB at a time,
	// up to 1 GiB, and exits 3 if nothing stopped it.
	worker.Register("hog", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		var keep [][]byte
		for range 1024 {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		runtime.KeepAlive(keep)
		os.Exit(3)
		return nil
	})
}

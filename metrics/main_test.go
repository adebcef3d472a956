//go:build linux

package metrics_test

import (
	"context"
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

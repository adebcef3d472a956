package testproc

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/understudy/understudy/procbridge/worker"
)

// The helper workers the tests of several packages start by name. Each
// package registers its own beside these, for what only it tests.
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
	// wait is ready, then waits to be stopped.
	worker.Register("wait", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		<-ctx.Done()
		return nil
	})
	// beat beats from its loop, every heartbeat interval, until it is
	// told to stop.
	worker.Register("beat", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		t := time.NewTicker(w.HeartbeatInterval())
		defer t.Stop()
		for {
			w.Beat()
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
	// stop-beating beats five times at its heartbeat interval, then its
	// loop stops beating (a hang); it still ends when it is stopped.
	worker.Register("stop-beating", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		for range 5 {
			w.Beat()
			time.Sleep(w.HeartbeatInterval())
		}
		<-ctx.Done()
		return nil
	})
	// die-before-ready exits 5 before it is ready.
	worker.Register("die-before-ready", func(ctx context.Context, w *worker.Worker) error {
		os.Exit(5)
		return nil
	})
	// never-ready never says ready, and ignores the request to stop.
	worker.Register("never-ready", func(ctx context.Context, w *worker.Worker) error {
		<-ctx.Done()
		select {}
	})
	// ignore-sigterm is ready and ignores SIGTERM: only SIGKILL ends it.
	worker.Register("ignore-sigterm", func(ctx context.Context, w *worker.Worker) error {
		signal.Ignore(syscall.SIGTERM)
		w.Ready()
		select {}
	})
}

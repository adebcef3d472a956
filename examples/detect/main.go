// Command detect starts a few workers, kills one, lets one hang and one
// crash, and prints what the bridge detected and how fast.
//
//	go run ./examples/detect
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

func init() {
	// idle beats until told to stop.
	worker.Register("idle", func(ctx context.Context, w *worker.Worker) error {
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
	// suicide leaves a timestamp and SIGKILLs itself.
	worker.Register("suicide", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		time.Sleep(50 * time.Millisecond)
		self, err := os.FindProcess(os.Getpid())
		if err != nil {
			return err
		}
		w.Mark(worker.Monotonic())
		return self.Kill() // SIGKILL
	})
	// stuck beats a while, then its loop stops.
	worker.Register("stuck", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		for range 50 {
			w.Beat()
			time.Sleep(w.HeartbeatInterval())
		}
		w.Beat()
		w.Mark(worker.Monotonic())
		select {}
	})
	// failing exits with status 3.
	worker.Register("failing", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		time.Sleep(100 * time.Millisecond)
		w.Mark(worker.Monotonic())
		os.Exit(3)
		return nil
	})
}

func main() {
	worker.Main() // when this process was started as a worker, run it and exit
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "detect:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	beat := procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: 10 * time.Millisecond}
	specs := []procbridge.Spec{
		{Worker: "idle", Heartbeat: beat},
		{Worker: "suicide"},
		{Worker: "stuck", Heartbeat: beat},
		{Worker: "failing"},
	}
	var procs []*procbridge.Process
	defer func() {
		for _, p := range procs {
			p.Stop(context.Background())
		}
	}()
	for _, s := range specs {
		p, err := procbridge.Start(ctx, s)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		ready := (<-p.Events()).(procbridge.Ready)
		fmt.Printf("%-8s pid %-7d ready %8.2f ms after fork\n", p.Name(), p.Pid(), ms(ready.SpawnToReady))
	}
	for _, p := range procs[1:] {
		for e := range p.Events() {
			switch e := e.(type) {
			case procbridge.Hung:
				fmt.Printf("%-8s pid %-7d HUNG (%v): no beat for %v (timeout %v): noticed %.3f ms past the timeout\n",
					p.Name(), p.Pid(), e.Err.Kind, e.Err.Silence.Round(time.Microsecond), e.Err.Timeout, ms(time.Duration(e.Mono-p.Mark())-e.Err.Timeout))
			case procbridge.Exited:
				fmt.Printf("%-8s pid %-7d %s: noticed %.3f ms after the worker's last timestamp\n",
					p.Name(), p.Pid(), e.Exit, ms(time.Duration(e.Exit.Mono-p.Mark())))
			}
		}
	}
	idle := procs[0]
	exit, err := idle.Stop(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%-8s pid %-7d %s, after %d beats\n", idle.Name(), idle.Pid(), exit, must(idle.Heartbeat()))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func must(n uint64, _ int64) uint64 { return n }

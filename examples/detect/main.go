// Command detect starts a few workers, kills one, lets one hang and one
// fail, and prints what the bridge detected and how fast.
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
	// victim waits to be killed.
	worker.Register("victim", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		select {}
	})
	// stuck beats a while, then its loop stops.
	worker.Register("stuck", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		for range 50 {
			w.Beat()
			time.Sleep(w.HeartbeatInterval())
		}
		w.Beat()
		select {}
	})
	// failing exits with status 3.
	worker.Register("failing", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		time.Sleep(100 * time.Millisecond)
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
		{Worker: "victim"},
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
		fmt.Printf("%-8s %v\n", s.Worker, <-p.Events()) // Ready: "pid 4242 ready in 3.1ms"
	}
	victim, err := os.FindProcess(procs[1].Pid())
	if err != nil {
		return err
	}
	killed := time.Now()
	if err := victim.Kill(); err != nil { // SIGKILL, from outside the bridge
		return err
	}
	for i, p := range procs[1:] {
		name := specs[i+1].Worker
		for e := range p.Events() {
			switch e := e.(type) {
			case procbridge.Dying:
				if name == "victim" {
					fmt.Printf("%-8s %v: %.3f ms after the kill (the robust futex's notice)\n", name, e, ms(e.Time.Sub(killed)))
					continue
				}
				fmt.Printf("%-8s %v\n", name, e)
			case procbridge.Hung:
				fmt.Printf("%-8s %v: noticed %.3f ms past the timeout\n", name, e, ms(e.Err.Silence-e.Err.Timeout))
			case procbridge.Exited:
				if name == "victim" {
					fmt.Printf("%-8s %v: %.3f ms after the kill (the pidfd)\n", name, e, ms(e.Exit.Time.Sub(killed)))
					continue
				}
				fmt.Printf("%-8s %v\n", name, e)
			}
		}
	}
	idle := procs[0]
	exit, err := idle.Stop(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%-8s pid %d %v, its last beat %v ago\n", "idle", idle.Pid(), exit, idle.HeartbeatAge().Round(time.Millisecond))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

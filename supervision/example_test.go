//go:build linux

package supervision_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
	"github.com/understudy/understudy/supervision"
)

func init() {
	// web says where it listens, on its standard output, and serves until
	// it is stopped.
	worker.Register("web", func(ctx context.Context, w *worker.Worker) error {
		fmt.Println("listening on", os.Args[len(os.Args)-1])
		w.Ready()
		<-ctx.Done()
		return nil
	})
}

// The tree of the guide to trees in code (docs/guide-tree.md), with this
// binary's workers: a database that beats, a web server whose output is
// logged a record per line, and a pool of jobs started on demand.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	spec := supervision.Spec{
		Strategy:  supervision.RestForOne,
		Intensity: supervision.Intensity{MaxRestarts: 3, Period: 10 * time.Second},
		Children: []supervision.ChildSpec{
			{Name: "db", Process: &procbridge.Spec{Worker: "beat",
				Heartbeat: procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 500 * time.Millisecond}}},
			{Name: "web", Process: &procbridge.Spec{Worker: "web", Args: []string{"--port", "8080"},
				Stdout: procbridge.Lines}, // each line logged through Options.Logger
				Restart:  supervision.Transient,
				Shutdown: 2 * time.Second}, // SIGTERM, then SIGKILL after 2s
			{Name: "jobs", Supervisor: &supervision.Spec{
				Strategy: supervision.SimpleOneForOne,
				Children: []supervision.ChildSpec{{Name: "job", Process: &procbridge.Spec{Worker: "wait"},
					Restart: supervision.Temporary}},
			}},
		},
	}
	// The logger prints the children's output lines, not the events.
	logger := slog.New(outputOnly{slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})})
	tree, err := supervision.Start(ctx, spec, supervision.Options{Logger: logger})
	if err != nil {
		fmt.Println(err)
		return
	}
	job, err := tree.Supervisor("jobs").StartSimpleChild(ctx, "--input", "a.csv")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(job.Name, job.State)
	late, err := tree.Stop(ctx)
	fmt.Println(len(late), "late", err)
	// Output:
	// level=INFO msg=output supervisor=root child=web stream=stdout line="listening on 8080"
	// job-1 running
	// 0 late <nil>
}

func init() {
	// counter is the worker of the guide to hot standby
	// (docs/guide-hotstandby.md): it counts in its committed state, and a
	// spare that takes over counts on from there.
	worker.Register("counter", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		if err := w.WaitActive(ctx); err != nil { // a spare parks here until promoted
			return nil
		}
		state := make([]byte, 8)
		var n uint64
		if _, err := w.State(state); err == nil { // the last state the previous primary committed
			n = binary.LittleEndian.Uint64(state)
		}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			n++
			binary.LittleEndian.PutUint64(state, n)
			if errors.Is(w.Commit(state), worker.ErrFenced) {
				return nil // another process is primary now
			}
			w.Beat()
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
		return nil
	})
}

// A hot-standby child, as in the guide to hot standby: its primary is
// killed, and its parked spare takes over, a failover rather than a
// restart.
func Example_hotStandby() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	promoted := make(chan supervision.ChildProcess, 1)
	spec := supervision.Spec{Children: []supervision.ChildSpec{{
		Name: "counter",
		Process: &procbridge.Spec{Worker: "counter", StateSize: 8, RingSize: 4096,
			Heartbeat: procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: 500 * time.Millisecond}},
		Standby: 1,
	}}}
	tree, err := supervision.Start(ctx, spec, supervision.Options{OnEvent: func(ev supervision.Event) {
		if e, ok := ev.(supervision.ChildProcess); ok {
			if _, ok := e.Event.(procbridge.Promoted); ok {
				promoted <- e
			}
		}
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tree.Stop(ctx)
	children, _ := tree.Supervisor().Children(ctx)
	before := children[0]
	_ = syscall.Kill(before.Pid, syscall.SIGKILL)

	e := <-promoted
	p := e.Event.(procbridge.Promoted)
	fmt.Println("the spare took over:", p.From == before.Pid, p.To == before.Spares[0])
	fmt.Println("incarnation", e.Incarnation, "restarts", e.Restarts)
	// Output:
	// the spare took over: true true
	// incarnation 1 restarts 1
}

// outputOnly passes on the records of the children's output alone.
type outputOnly struct{ slog.Handler }

func (h outputOnly) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != "output" {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h outputOnly) WithAttrs(as []slog.Attr) slog.Handler {
	return outputOnly{h.Handler.WithAttrs(as)}
}
func (h outputOnly) WithGroup(g string) slog.Handler { return outputOnly{h.Handler.WithGroup(g)} }

// A tree of two workers under one supervisor: one of them is killed, the
// supervisor restarts it (one_for_one: its sibling is not touched), and
// Stop stops both, in reverse start order.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	restarted := make(chan struct{})
	spec := supervision.Spec{
		Strategy: supervision.OneForOne,
		Children: []supervision.ChildSpec{
			{Name: "db", Process: &procbridge.Spec{Worker: "wait"}},
			{Name: "web", Process: &procbridge.Spec{Worker: "wait"}},
		},
	}
	tree, err := supervision.Start(ctx, spec, supervision.Options{
		// Events of one supervisor arrive in order, on its goroutine.
		OnEvent: func(ev supervision.Event) {
			h := ev.EventHeader()
			switch e := ev.(type) {
			case supervision.ChildReady:
				fmt.Printf("%s/%s ready (incarnation %d)\n", h.Supervisor, h.Child, h.Incarnation)
				if h.Incarnation == 2 {
					close(restarted)
				}
			case supervision.ChildExited:
				fmt.Printf("%s/%s exited: %v\n", h.Supervisor, h.Child, e.Exited.Exit)
			case supervision.ChildRestarting:
				fmt.Printf("%s/%s restarting (restart %d)\n", h.Supervisor, h.Child, e.Restarts)
			case supervision.ChildStopped:
				fmt.Printf("%s/%s stopped (%s), killed: %v\n", h.Supervisor, h.Child, e.Reason, e.Killed)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	children, _ := tree.Supervisor().Children(ctx)
	_ = syscall.Kill(children[1].Pid, syscall.SIGKILL) // web
	<-restarted

	late, err := tree.Stop(ctx)
	fmt.Println(len(late), "late", err)
	// Output:
	// root/db ready (incarnation 1)
	// root/web ready (incarnation 1)
	// root/web exited: killed by SIGKILL
	// root/web restarting (restart 1)
	// root/web ready (incarnation 2)
	// root/web stopped (shutdown), killed: false
	// root/db stopped (shutdown), killed: false
	// 0 late <nil>
}

// A supervisor whose children fail more often than its intensity allows
// gives up: it stops its children and fails to its parent; at the root,
// the tree ends, and Wait returns the reason, whose chain leads to the
// process failure.
func Example_escalation() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := supervision.Spec{Children: []supervision.ChildSpec{{
		Name: "mid",
		Supervisor: &supervision.Spec{
			Intensity: supervision.Intensity{MaxRestarts: supervision.NoRestarts},
			Children:  []supervision.ChildSpec{{Name: "crasher", Process: &procbridge.Spec{Worker: "crash"}}},
		},
	}}}
	spec.Intensity = supervision.Intensity{MaxRestarts: supervision.NoRestarts}
	tree, err := supervision.Start(ctx, spec, supervision.Options{
		// The "crash" worker kills itself when told to (SIGUSR1).
		OnEvent: func(ev supervision.Event) {
			if r, ok := ev.(supervision.ChildReady); ok && r.Child == "crasher" {
				_ = syscall.Kill(r.Ready.Pid, syscall.SIGUSR1)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = tree.Wait(ctx)
	var xe *procbridge.ExitError
	fmt.Println(errors.Is(err, supervision.ErrIntensity), errors.As(err, &xe), xe.Exit.Signal)
	// Output: true true killed
}

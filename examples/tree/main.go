// Command tree builds a three-level supervision tree in code, kills one of
// its workers and shows what the supervisors do: the events, the restart,
// and finally a crash loop whose intensity breach escalates, level by
// level, to the root, which ends the tree with the chain of reasons.
//
//	go run ./examples/tree
//
// The tree:
//
//	root            one_for_one, at most 1 restart in 5s
//	├── api         a worker
//	└── pipeline    rest_for_one, no restarts allowed
//	    ├── reader  a worker
//	    └── stages  one_for_all, at most 1 restart in 5s (OTP's default)
//	        ├── decode
//	        └── encode
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
	"github.com/understudy/understudy/supervision"
)

func init() {
	// service is a worker that beats until it is told to stop.
	worker.Register("service", func(ctx context.Context, w *worker.Worker) error {
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
}

func main() {
	worker.Main() // when this process was started as a worker, run it and exit
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tree:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	service := func(name string) supervision.ChildSpec {
		return supervision.ChildSpec{Name: name, Process: &procbridge.Spec{
			Worker:    "service",
			Heartbeat: procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 100 * time.Millisecond},
		}}
	}
	spec := supervision.Spec{
		Strategy:  supervision.OneForOne,
		Intensity: supervision.Intensity{MaxRestarts: 1, Period: 5 * time.Second},
		Children: []supervision.ChildSpec{
			service("api"),
			{Name: "pipeline", Supervisor: &supervision.Spec{
				Strategy:  supervision.RestForOne,
				Intensity: supervision.Intensity{MaxRestarts: supervision.NoRestarts},
				Children: []supervision.ChildSpec{
					service("reader"),
					{Name: "stages", Supervisor: &supervision.Spec{
						Strategy: supervision.OneForAll, // the zero Intensity: OTP's 1 restart in 5s
						Children: []supervision.ChildSpec{service("decode"), service("encode")},
					}},
				},
			}},
		},
	}

	began := time.Now()
	events := make(chan supervision.Event, 1024)
	var mu sync.Mutex
	show := func(ev supervision.Event) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf("%8.3fs  %v\n", time.Since(began).Seconds(), ev) // every event prints as one line
		select {
		case events <- ev:
		default: // nobody is waiting for this many
		}
	}

	fmt.Println("== start the tree: children start in order, each ready before the next")
	tree, err := supervision.Start(ctx, spec, supervision.Options{OnEvent: show})
	if err != nil {
		return err
	}
	stages := tree.Supervisor("pipeline", "stages")

	// killEncode SIGKILLs the encode worker (and forgets the events so
	// far: what follows is about this kill).
	killEncode := func() error {
		for len(events) > 0 {
			<-events
		}
		children, err := stages.Children(ctx)
		if err != nil {
			return err
		}
		enc := children[1] // decode, encode: in start order
		fmt.Printf("== kill -9 %d (root/pipeline/stages/encode)\n", enc.Pid)
		proc, err := os.FindProcess(enc.Pid)
		if err != nil {
			return err
		}
		defer proc.Release()
		return proc.Kill() // SIGKILL
	}
	// waitReady waits for the ready event of the child at path.
	waitReady := func(path string) error {
		for {
			select {
			case ev := <-events:
				h := ev.EventHeader()
				if _, ok := ev.(supervision.ChildReady); ok && h.Supervisor+"/"+h.Child == path {
					return nil
				}
			case <-tree.Done():
				return fmt.Errorf("the tree ended early: %w", tree.Wait(ctx))
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
	}

	fmt.Println("== a crash: stages (one_for_all) stops decode, then restarts both in order")
	if err := killEncode(); err != nil {
		return err
	}
	if err := waitReady("root/pipeline/stages/encode"); err != nil {
		return err
	}
	fmt.Println("== a second crash within 5s: stages gives up and escalates; pipeline allows no")
	fmt.Println("   restart, so it gives up too; root restarts pipeline (its first restart)")
	if err := killEncode(); err != nil {
		return err
	}
	if err := waitReady("root/pipeline"); err != nil {
		return err
	}
	fmt.Println("== the same again: stages restarts once, then gives up; so does pipeline; and")
	fmt.Println("   now root exceeds its own intensity (2 restarts in 5s): it stops api and ends")
	if err := killEncode(); err != nil {
		return err
	}
	if err := waitReady("root/pipeline/stages/encode"); err != nil {
		return err
	}
	if err := killEncode(); err != nil {
		return err
	}
	err = tree.Wait(ctx)
	if !errors.Is(err, supervision.ErrIntensity) {
		return fmt.Errorf("the tree should have ended over intensity, not with %v", err)
	}
	fmt.Println("== the tree ended; Wait returned the chain of reasons:")
	for depth := 0; err != nil; depth++ {
		indent := strings.Repeat("  ", depth+1)
		var ee *supervision.EscalationError
		var xe *procbridge.ExitError
		switch {
		case errors.As(err, &ee) && err == error(ee):
			// Its message, less its cause: the next line.
			fmt.Printf("%s%s\n", indent, strings.TrimSuffix(ee.Error(), ": "+ee.Cause.Error()))
			err = ee.Cause
		case errors.As(err, &xe):
			fmt.Printf("%sprocess %s (pid %d): %v\n", indent, xe.Name, xe.Pid, xe.Exit)
			err = nil
		default:
			fmt.Printf("%s%v\n", indent, err)
			err = nil
		}
	}
	return nil
}

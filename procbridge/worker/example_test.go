//go:build linux

package worker_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

func init() {
	// A worker registered by name: the binary re-executes itself to run it.
	worker.Register("greeter", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		fmt.Println("hello from greeter", os.Args[1:])
		return nil
	})
	// A worker that keeps a count in its committed state and dies after
	// committing 3; its spare carries on from 3.
	worker.Register("count-to-five", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		if err := w.WaitActive(ctx); err != nil {
			return nil
		}
		state := make([]byte, 8)
		var n uint64
		if _, err := w.State(state); err == nil {
			n = binary.LittleEndian.Uint64(state)
		} else if _, err := w.Recv(ctx, make([]byte, 16)); err != nil {
			return nil // the first primary waits for "go": its spare is parked by then
		}
		for n < 5 {
			n++
			binary.LittleEndian.PutUint64(state, n)
			if err := w.Commit(state); err != nil {
				return err
			}
			fmt.Println(n)
			if n == 3 && w.Lane() == 0 {
				syscall.Kill(os.Getpid(), syscall.SIGKILL) // the primary dies
			}
		}
		<-ctx.Done()
		return nil
	})
}

// Register a worker, and start it by name.
func ExampleRegister() {
	ctx := context.Background()
	p, err := procbridge.Start(ctx, procbridge.Spec{Worker: "greeter", Args: []string{"a", "b"}, Stdout: procbridge.Lines})
	if err != nil {
		fmt.Println(err)
		return
	}
	for l := range p.Lines() {
		fmt.Println(l.Text)
	}
	exit, _ := p.Wait(ctx)
	fmt.Println(exit)
	// Output:
	// hello from greeter [a b]
	// exited 0
}

// A primary that dies after committing 3: its parked spare resumes from 3.
func ExampleWorker_WaitActive() {
	ctx := context.Background()
	g, err := procbridge.StartGroup(ctx, procbridge.Spec{Worker: "count-to-five", StateSize: 8, RingSize: 64, Stdout: procbridge.Lines}, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Stop(ctx)
	primary, spare := g.Primary(), g.Spares()[0]
	seg, _ := primary.Segment()
	seg.Send([]byte("go"))
	for l := range primary.Lines() {
		fmt.Println("primary:", l.Text)
	}
	timeout := time.After(10 * time.Second)
	for range 2 {
		select {
		case l := <-spare.Lines():
			fmt.Println("spare:", l.Text)
		case <-timeout:
			fmt.Println("the spare said nothing")
			return
		}
	}
	// Output:
	// primary: 1
	// primary: 2
	// primary: 3
	// spare: 4
	// spare: 5
}

func init() {
	// The worker of the README: it beats until it is stopped.
	worker.Register("echo", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		for ctx.Err() == nil {
			time.Sleep(time.Millisecond) // its work
			w.Beat()
		}
		return nil
	})
}

// A worker that beats until it is stopped: its events are a Ready, then,
// last, an Exited.
func Example() {
	ctx := context.Background()
	p, err := procbridge.Start(ctx, procbridge.Spec{Worker: "echo",
		Heartbeat: procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 100 * time.Millisecond}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%T\n", <-p.Events())
	if _, err := p.Stop(ctx); err != nil {
		fmt.Println(err)
	}
	for ev := range p.Events() {
		switch ev := ev.(type) {
		case procbridge.Exited:
			fmt.Printf("%T: %v\n", ev, ev.Exit)
		default:
			fmt.Printf("%T\n", ev)
		}
	}
	// Output:
	// procbridge.Ready
	// procbridge.Exited: stopped by us: exited 0
}

//go:build linux

// Command python supervises the Python workload of the design the
// project grew from with a Go tree: a
// counter with a hot spare, a pool of three audio workers and a worker
// that hangs, all Python processes speaking the worker protocol through
// the package in sdk/python. It SIGKILLs the counter's primary and shows
// the spare taking over from the last count committed, waits for the hung
// worker's verdict, and stops the tree. Run it from the repository's root:
//
//	go run ./examples/python
//
// UNDERSTUDY_PYTHON names the interpreter (default python3). It exits 1
// when the count was not carried over or no hang was found.
//
// The tree:
//
//	root           one_for_one
//	├── counter    workers.py counter, one spare, 8 bytes of state
//	├── pool       one_for_one
//	│   ├── audio-1, audio-2, audio-3   workers.py pool
//	└── hung       workers.py hang: beats for 2 s, then stops
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "python:", err)
		os.Exit(1)
	}
}

func run() error {
	script, err := filepath.Abs(filepath.Join("examples", "python", "workers.py"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("run it from the repository's root: %w", err)
	}
	python := os.Getenv("UNDERSTUDY_PYTHON")
	if python == "" {
		python = "python3"
	}
	beat := procbridge.Heartbeat{Interval: 20 * time.Millisecond, Timeout: 500 * time.Millisecond}
	worker := func(name string, args ...string) supervision.ChildSpec {
		return supervision.ChildSpec{Name: name, Process: &procbridge.Spec{
			Path:      python,
			Args:      append([]string{script}, args...),
			SDK:       true,
			Heartbeat: beat,
			Stdout:    procbridge.ToWriter(newPrefixed(name)),
		}}
	}
	counter := worker("counter", "counter", "10")
	counter.Process.StateSize = 8
	counter.Standby = 1
	pool := supervision.ChildSpec{Name: "pool", Supervisor: &supervision.Spec{
		Strategy: supervision.OneForOne,
		Children: []supervision.ChildSpec{worker("audio-1", "pool"), worker("audio-2", "pool"), worker("audio-3", "pool")},
	}}
	hung := worker("hung", "hang", "2")
	hung.Process.Heartbeat.Timeout = 200 * time.Millisecond
	hung.Backoff = supervision.Backoff{Initial: time.Second, Max: 10 * time.Second}
	spec := supervision.Spec{
		Strategy:  supervision.OneForOne,
		Intensity: supervision.Intensity{MaxRestarts: 20, Period: time.Minute},
		Children:  []supervision.ChildSpec{counter, pool, hung},
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	events := make(chan supervision.Event, 1024)
	show := func(ev supervision.Event) {
		fmt.Printf("%8.3fs  %v\n", time.Since(began).Seconds(), ev)
		select {
		case events <- ev:
		default:
		}
	}
	fmt.Println("== start the tree (Python starts slowly: a second or more per worker on a busy machine)")
	tree, err := supervision.Start(ctx, spec, supervision.Options{OnEvent: show})
	if err != nil {
		return err
	}
	defer tree.Stop(context.Background())

	children, err := tree.Supervisor().Children(ctx)
	if err != nil {
		return err
	}
	g := children[0].Group
	if g == nil {
		return errors.New("the counter has no hot-standby group")
	}
	seg, _ := g.Primary().Segment()
	if err := awaitCount(ctx, seg, 100); err != nil {
		return err
	}
	// Stopped first, so that its last commit is known before it dies.
	old := g.Primary().Pid()
	syscall.Kill(old, syscall.SIGSTOP)
	time.Sleep(50 * time.Millisecond)
	last, err := count(seg)
	if err != nil {
		return err
	}
	fmt.Printf("== kill -9 %d, the counter's primary, at count %d\n", old, last)
	syscall.Kill(old, syscall.SIGKILL)

	promoted, hangSeen := false, false
	for !promoted || !hangSeen {
		select {
		case ev := <-events:
			cp, ok := ev.(supervision.ChildProcess)
			if !ok {
				continue
			}
			switch pe := cp.Event.(type) {
			case procbridge.Promoted:
				if cp.Child == "counter" {
					promoted = true
				}
			case procbridge.Hung:
				if cp.Child == "hung" {
					hangSeen = true
					fmt.Printf("== hung: %v\n", pe)
				}
			}
		case <-ctx.Done():
			return fmt.Errorf("promoted %v, hang seen %v: %w", promoted, hangSeen, context.Cause(ctx))
		}
	}
	now, err := count(seg)
	if err != nil {
		return err
	}
	fmt.Printf("== the spare took over: count %d now, from %d at the kill\n", now, last)
	if now < last {
		return fmt.Errorf("the count went back from %d to %d", last, now)
	}
	fmt.Println("== stop the tree")
	stopped, err := tree.Stop(ctx)
	for _, s := range stopped {
		fmt.Printf("          %v\n", s)
	}
	return err
}

// count returns the counter's committed count.
func count(seg *procbridge.Segment) (uint64, error) {
	buf := make([]byte, 8)
	n, _, err := seg.State(buf)
	if errors.Is(err, procbridge.ErrNoState) {
		return 0, nil
	}
	if err != nil || n != 8 {
		return 0, fmt.Errorf("the counter's state: %d bytes, %v", n, err)
	}
	return binary.LittleEndian.Uint64(buf), nil
}

// awaitCount waits until the committed count reaches n.
func awaitCount(ctx context.Context, seg *procbridge.Segment, n uint64) error {
	for {
		c, err := count(seg)
		if err != nil || c >= n {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// prefixed writes a worker's output to stdout line by line, after its
// name; a line cut between two writes is held until its end comes.
type prefixed struct {
	name string
	mu   sync.Mutex
	part []byte
}

func newPrefixed(name string) *prefixed { return &prefixed{name: name} }

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.part = append(p.part, b...)
	for {
		i := bytes.IndexByte(p.part, '\n')
		if i < 0 {
			return len(b), nil
		}
		fmt.Printf("          %s: %s\n", p.name, p.part[:i])
		p.part = p.part[i+1:]
	}
}

// Command hotstandby runs a counting worker with a hot spare, SIGKILLs the
// primary ten times, and shows that the count goes on across every failover
// without skipping or repeating a number, and how fast each spare took over.
//
//	go run ./examples/hotstandby
//	go run ./examples/hotstandby -plain
//
// The worker commits its count to the group's shared segment and prints
// each number only after committing it. A spare, once promoted, prints
// "resume N": the count N it adopted from the segment, and counts on from
// N+1. So every number that was ever committed is either
// printed or (when the primary was killed between its commit and its print)
// the number a successor resumes from, and the example can check that the
// sequence is continuous. It exits 1 if it is not.
//
// Times are from the instant just before the kill(2): "detected" is when
// the bridge learned of the death (Promoted.Detected: the robust-futex
// Dying notice, before the kernel has torn the process down), "switched"
// when the supervisor had promoted the spare and woken it
// (Promoted.Switched). When the kernel woke the spare itself, it runs
// before the supervisor switches.
//
// With -plain the first primary is a plain executable without the SDK
// (sleep), and the counting worker stands by for it (Spec.Spare): the
// first failover is told by the eBPF watch's Dying where the host runs it
// (root, or CAP_BPF and CAP_PERFMON), before the kernel tears the primary
// down, else by its Exited. The spare resumes from 0, and the count goes
// on as before.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

const (
	failovers = 10
	tenure    = 200 * time.Millisecond // how long each primary lives
	tick      = 10 * time.Millisecond  // how often the worker counts
)

func init() {
	// counter parks as a spare until it is the primary, then counts on
	// from the count committed in the segment.
	worker.Register("counter", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		if err := w.WaitActive(ctx); err != nil {
			return nil // stopped while parked
		}
		buf := make([]byte, 8)
		var n uint64
		if _, err := w.State(buf); err == nil {
			n = binary.LittleEndian.Uint64(buf)
		} else if !errors.Is(err, procbridge.ErrNoState) {
			return err
		}
		fmt.Println("resume", n)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			n++
			binary.LittleEndian.PutUint64(buf, n)
			if err := w.Commit(buf); errors.Is(err, worker.ErrFenced) {
				<-ctx.Done() // another process counts now
				return nil
			} else if err != nil {
				return err
			}
			fmt.Println(n) // only once it is committed
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
	plain := flag.Bool("plain", false, "start the first primary as a plain executable (sleep) without the SDK")
	flag.Parse()
	ok, err := run(*plain)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hotstandby:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// term is one primary's time in office: the count it resumed from and
// the numbers it printed. (A process's Lines channel holds 1,024 lines,
// and the example reads them as they come: none is dropped.)
type term struct {
	pid    int
	plain  bool // a plain executable: it counted nothing
	epoch  uint64
	resume uint64
	counts []uint64
}

func run(plain bool) (continuous bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	spec := procbridge.Spec{Worker: "counter", StateSize: 8, Stdout: procbridge.Lines}
	if plain {
		spare := procbridge.Spec{Worker: "counter", Stdout: procbridge.Lines}
		spec = procbridge.Spec{Name: "counter", Path: "sleep", Args: []string{"3600"}, StateSize: 8, Stdout: procbridge.Lines, Spare: &spare}
	}
	g, err := procbridge.StartGroup(ctx, spec, 1)
	if err != nil {
		return false, err
	}
	stopped := false
	defer func() {
		if !stopped {
			g.Stop(context.Background())
		}
	}()
	fmt.Printf("group: primary %d, spare %d\n", g.Primary().Pid(), g.Spares()[0].Pid())

	cur := g.Primary()
	t := &term{pid: cur.Pid(), plain: true}
	if !plain {
		if t, err = startTerm(ctx, cur, 0); err != nil {
			return false, err
		}
	}
	var terms []*term
	for i := 1; i <= failovers; i++ {
		time.Sleep(tenure) // let it count
		proc, err := os.FindProcess(cur.Pid())
		if err != nil {
			return false, err
		}
		death := time.Now()
		err = proc.Kill() // SIGKILL
		proc.Release()
		if err != nil {
			return false, err
		}
		pr, err := groupEvent[procbridge.Promoted](ctx, g)
		if err != nil {
			return false, err
		}
		// Every line of the old primary: its stream closes once it is reaped.
		if err := finishTerm(ctx, cur, t); err != nil {
			return false, err
		}
		if !t.plain {
			terms = append(terms, t)
		}
		printTerm(t)

		next := g.Primary()
		if next.Pid() != pr.To {
			return false, fmt.Errorf("promoted %d, but the primary is %d", pr.To, next.Pid())
		}
		if t, err = startTerm(ctx, next, pr.Epoch); err != nil { // waits for "resume": it runs
			return false, err
		}
		how := "the supervisor woke it"
		if pr.ByKernel {
			how = "the kernel woke it"
		}
		fmt.Printf("failover %2d: SIGKILL %d → %d, epoch %d (%s, %s): detected %s, switched %s after the kill\n",
			i, pr.From, pr.To, pr.Epoch, causeName(pr.Cause), how, us(pr.Detected.Sub(death)), us(pr.Switched.Sub(death)))
		if _, err := groupEvent[procbridge.SpareReady](ctx, g); err != nil {
			return false, err
		}
		cur = next
	}
	time.Sleep(tenure)
	stopped = true
	if err := g.Stop(ctx); err != nil {
		return false, err
	}
	if err := finishTerm(ctx, cur, t); err != nil {
		return false, err
	}
	terms = append(terms, t)
	printTerm(t)
	return check(terms), nil
}

// startTerm reads the first line, "resume N", of a new primary, which
// holds office under epoch.
func startTerm(ctx context.Context, p *procbridge.Process, epoch uint64) (*term, error) {
	l, ok, err := nextLine(ctx, p)
	if err != nil || !ok {
		return nil, fmt.Errorf("primary %d said nothing: %v", p.Pid(), err)
	}
	f := strings.Fields(l)
	if len(f) != 2 || f[0] != "resume" {
		return nil, fmt.Errorf("primary %d: %q, want \"resume N\"", p.Pid(), l)
	}
	t := &term{pid: p.Pid(), epoch: epoch}
	if t.resume, err = strconv.ParseUint(f[1], 10, 64); err != nil {
		return nil, fmt.Errorf("primary %d: %q: %w", p.Pid(), l, err)
	}
	return t, nil
}

// finishTerm collects p's numbers until its output ends.
func finishTerm(ctx context.Context, p *procbridge.Process, t *term) error {
	for {
		l, ok, err := nextLine(ctx, p)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		n, err := strconv.ParseUint(l, 10, 64)
		if err != nil {
			return fmt.Errorf("primary %d: %q, want a number", p.Pid(), l)
		}
		t.counts = append(t.counts, n)
	}
}

func nextLine(ctx context.Context, p *procbridge.Process) (string, bool, error) {
	select {
	case l, ok := <-p.Lines():
		return l.Text, ok, nil
	case <-ctx.Done():
		return "", false, fmt.Errorf("waiting for output of %d: %w", p.Pid(), context.Cause(ctx))
	}
}

func printTerm(t *term) {
	if t.plain {
		fmt.Printf("primary %d, a plain executable without the SDK, counted nothing\n", t.pid)
		return
	}
	var b strings.Builder
	for _, n := range t.counts {
		fmt.Fprintf(&b, " %d", n)
	}
	fmt.Printf("primary %d (epoch %d) resumed from %d, counted:%s\n", t.pid, t.epoch, t.resume, b.String())
}

// check verifies that the numbers committed, in the order the primaries
// held office, are 1, 2, 3, … with nothing skipped or repeated, and says so.
func check(terms []*term) bool {
	var next uint64 = 1 // the number that must come next
	unprinted := 0
	fail := func(format string, args ...any) bool {
		fmt.Printf("continuity BROKEN: "+format+"\n", args...)
		return false
	}
	for i, t := range terms {
		switch {
		case i == 0 && t.resume != 0:
			return fail("the first primary resumed from %d, want 0", t.resume)
		case t.resume == next-1:
			// It resumed from the last number printed.
		case t.resume == next:
			// Its predecessor committed this number and was killed before
			// printing it: committed all the same.
			unprinted++
			next++
		case t.resume < next-1:
			return fail("primary %d resumed from %d, but %d had been counted already: %d..%d repeat", t.pid, t.resume, next-1, t.resume+1, next-1)
		default:
			return fail("primary %d resumed from %d, but the last count was %d: %d..%d skipped", t.pid, t.resume, next-1, next, t.resume-1)
		}
		for _, n := range t.counts {
			if n != next {
				return fail("primary %d counted %d where %d was due", t.pid, n, next)
			}
			next++
		}
	}
	fmt.Printf("continuity: 1..%d across %d primaries and %d failovers, nothing skipped or repeated", next-1, len(terms), len(terms)-1)
	if unprinted > 0 {
		fmt.Printf(" (%d committed but never printed: the primary was killed first, and its successor resumed from it)", unprinted)
	}
	fmt.Println()
	return true
}

// groupEvent waits for g's next event of type T, skipping others.
func groupEvent[T procbridge.Event](ctx context.Context, g *procbridge.Group) (T, error) {
	var zero T
	for {
		select {
		case e, ok := <-g.Events():
			if !ok {
				return zero, errors.New("the group's events ended")
			}
			if x, ok := e.(T); ok {
				return x, nil
			}
			switch e := e.(type) {
			case procbridge.Exited:
				return zero, fmt.Errorf("group down: %v", e)
			case procbridge.SpareDown:
				if e.Exit == nil {
					return zero, fmt.Errorf("replacement spare failed: %w", e.Err)
				}
			}
		case <-ctx.Done():
			return zero, fmt.Errorf("waiting for %T: %w", zero, context.Cause(ctx))
		}
	}
}

func causeName(e procbridge.Event) string {
	switch e := e.(type) {
	case procbridge.Dying:
		return "Dying from the " + map[string]string{"ebpf": "eBPF watch", "futex": "robust futex"}[e.Source]
	case procbridge.Exited:
		return "Exited"
	case procbridge.Hung:
		return "Hung"
	}
	return fmt.Sprintf("%T", e)
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }

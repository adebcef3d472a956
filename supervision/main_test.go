//go:build linux

package supervision_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
	"github.com/understudy/understudy/supervision"
)

// TestMain runs a helper worker when the test binary is re-executed as one,
// and checks for leaked goroutines otherwise.
func TestMain(m *testing.M) { testproc.Run(m) }

// Helpers: each is a worker the tests start by name.
func init() {

	// crash is ready, then, told to go on, writes the time to its first
	// extra file when it has one (the benchmarks' pipe) and kills itself.
	worker.Register("crash", func(ctx context.Context, w *worker.Worker) error {
		if !testproc.WaitGoOn(ctx, w) {
			return nil
		}
		markCrash()
		return testproc.DieBy(syscall.SIGKILL)
	})
	// flaky counts its starts in the directory of its argument: the first
	// start crashes once it is told to go on, the second dies before it is
	// ready, later ones run.
	worker.Register("flaky", func(ctx context.Context, w *worker.Worker) error {
		dir := os.Args[1:][0]
		ents, _ := os.ReadDir(dir)
		n := len(ents)
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(n)), nil, 0o600); err != nil {
			return err
		}
		switch n {
		case 0:
			testproc.WaitGoOn(ctx, w)
			return testproc.DieBy(syscall.SIGKILL)
		case 1:
			os.Exit(4)
		}
		w.Ready()
		<-ctx.Done()
		return nil
	})

	// The children of OTP's supervisor_SUITE (otp_suite_test.go), as
	// processes: exit 0 is OTP's normal, exit 1 an abnormal reason, a
	// SIGTERM answered by exit 0 its shutdown.

	// obey is the suite's supervisor_1 child: ready; SIGUSR1 makes it exit
	// 0 (OTP's stop, normal), SIGUSR2 exit 1 (die, an abnormal reason),
	// SIGTERM exit 0 (shutdown). With the argument deaf it ignores SIGTERM
	// (OTP's child busy sleeping), so a stop kills it after its grace.
	worker.Register("obey", func(ctx context.Context, w *worker.Worker) error {
		return obey(ctx, w, slices.Contains(os.Args[1:], "deaf"))
	})
	// scripted counts its starts in the directory of its first argument;
	// its k-th start follows the k-th of the other arguments (the last
	// one for every later start): run (as obey), or fail (exit 1 before it
	// is ready). The suite's start_child(error) child is "run fail": its
	// first start succeeds, every later one fails.
	worker.Register("scripted", func(ctx context.Context, w *worker.Worker) error {
		dir, words := os.Args[1], os.Args[2:]
		n := starts(dir)
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(n)), nil, 0o600); err != nil {
			return err
		}
		if words[min(n, len(words)-1)] == "fail" {
			os.Exit(1)
		}
		return obey(ctx, w, false)
	})
	// fail-if is the suite's supervisor_deadlock child: while the file of
	// its first argument exists, it waits the duration of its second
	// argument and exits 1 before it is ready (a start that hangs a while,
	// then fails); otherwise it runs as obey.
	worker.Register("fail-if", func(ctx context.Context, w *worker.Worker) error {
		if _, err := os.Stat(os.Args[1]); err == nil {
			d, _ := time.ParseDuration(os.Args[2])
			time.Sleep(d)
			os.Exit(1)
		}
		return obey(ctx, w, false)
	})
	// slow-stop is the suite's supervisor_2 child: ready; on SIGTERM it
	// writes a byte to its first extra file, when it has one (the test
	// learns the stop has begun), then takes the duration of its argument
	// to exit 0. (The sleep is the child's, OTP's timer:sleep in
	// terminate/2: what the test measures, not how it waits.)
	worker.Register("slow-stop", func(ctx context.Context, w *worker.Worker) error {
		d, _ := time.ParseDuration(os.Args[1])
		w.Ready()
		<-ctx.Done()
		if f := worker.ExtraFile(0); f != nil {
			f.Write([]byte{1})
		}
		time.Sleep(d)
		return nil
	})
	// exit-with is the suite's supervisor_4 child: ready; on SIGUSR1 (it
	// ends on its own) or SIGTERM (it is stopped) it exits with the status
	// of its argument.
	worker.Register("exit-with", func(ctx context.Context, w *worker.Worker) error {
		code, _ := strconv.Atoi(os.Args[1])
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		w.Ready()
		select {
		case <-usr1:
		case <-ctx.Done():
		}
		if code == 0 {
			return nil
		}
		os.Exit(code)
		return nil
	})
}

// obey runs the obey worker (see init); deaf ignores SIGTERM.
func obey(ctx context.Context, w *worker.Worker, deaf bool) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	if deaf {
		signal.Ignore(syscall.SIGTERM)
	}
	w.Ready()
	select {
	case s := <-sig:
		if s == syscall.SIGUSR2 {
			os.Exit(1)
		}
	case <-ctx.Done():
	}
	return nil
}

// starts returns how many times a scripted worker counting in dir started.
func starts(dir string) int {
	ents, _ := os.ReadDir(dir)
	return len(ents)
}

// markCrash writes CLOCK_MONOTONIC ns, 8 bytes little-endian, to this
// worker's first extra file, when it has one: the benchmarks time a
// restart from it.
func markCrash() {
	if f := worker.ExtraFile(0); f != nil {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(mono.Now()))
		f.Write(b[:])
	}
}

// goOnWhenReady returns an OnEvent that tells every child whose name
// starts with one of prefixes to go on as soon as it is ready, then passes
// the event to next.
func goOnWhenReady(next func(supervision.Event), prefixes ...string) func(supervision.Event) {
	return func(ev supervision.Event) {
		if r, ok := ev.(supervision.ChildReady); ok && r.Ready != nil {
			for _, p := range prefixes {
				if strings.HasPrefix(r.Child, p) {
					_ = syscall.Kill(r.Ready.Pid, syscall.SIGUSR1)
				}
			}
		}
		if next != nil {
			next(ev)
		}
	}
}

func proc(worker string, args ...string) *procbridge.Spec {
	return &procbridge.Spec{Worker: worker, Args: args}
}

// recorder keeps every event of a tree and lets a test wait for the next
// one that matches.
type recorder struct {
	c   chan supervision.Event
	mu  sync.Mutex
	all []supervision.Event
}

func newRecorder() *recorder { return &recorder{c: make(chan supervision.Event, 1<<16)} }

func (r *recorder) on(ev supervision.Event) {
	r.mu.Lock()
	r.all = append(r.all, ev)
	r.mu.Unlock()
	select {
	case r.c <- ev:
	default:
		panic("recorder: buffer full")
	}
}

// drain forgets the events not waited for yet (events still has them).
func (r *recorder) drain() {
	for {
		select {
		case <-r.c:
		default:
			return
		}
	}
}

func (r *recorder) events() []supervision.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]supervision.Event(nil), r.all...)
}

// wait returns the next event (skipping others) for which match is true.
func (r *recorder) wait(t testing.TB, what string, match func(supervision.Event) bool) supervision.Event {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case ev := <-r.c:
			if match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s after %v", what, deadline)
			return nil
		}
	}
}

// next returns the next event of type T about child of supervisor sup ("" matches any).
func next[T supervision.Event](t testing.TB, r *recorder, sup, child string) T {
	t.Helper()
	var zero T
	ev := r.wait(t, fmt.Sprintf("%T for %s/%s", zero, sup, child), func(ev supervision.Event) bool {
		_, ok := ev.(T)
		h := ev.EventHeader()
		return ok && (sup == "" || h.Supervisor == sup) && (child == "" || h.Child == child)
	})
	return ev.(T)
}

// nextBackoff returns the next ChildRestarting that waits out a backoff
// first, about child of supervisor sup.
func nextBackoff(t testing.TB, r *recorder, sup, child string) supervision.ChildRestarting {
	t.Helper()
	ev := r.wait(t, fmt.Sprintf("a restart after a backoff for %s/%s", sup, child), func(ev supervision.Event) bool {
		e, ok := ev.(supervision.ChildRestarting)
		return ok && e.Delay > 0 && (sup == "" || e.Supervisor == sup) && (child == "" || e.Child == child)
	})
	return ev.(supervision.ChildRestarting)
}

// nextPromoted returns the next ChildProcess that carries a
// procbridge.Promoted, about child of supervisor sup, and the Promoted.
func nextPromoted(t testing.TB, r *recorder, sup, child string) (supervision.ChildProcess, procbridge.Promoted) {
	t.Helper()
	ev := r.wait(t, fmt.Sprintf("a promotion for %s/%s", sup, child), isProcess[procbridge.Promoted](child, 0))
	cp := ev.(supervision.ChildProcess)
	return cp, cp.Event.(procbridge.Promoted)
}

// isProcess matches a ChildProcess carrying an event of type T, about
// child ("": any) and incarnation (0: any).
func isProcess[T procbridge.Event](child string, incarnation int) func(supervision.Event) bool {
	return func(ev supervision.Event) bool {
		cp, ok := ev.(supervision.ChildProcess)
		if !ok {
			return false
		}
		_, ok = cp.Event.(T)
		return ok && (child == "" || cp.Child == child) && (incarnation == 0 || cp.Incarnation == incarnation)
	}
}

// isBackoff matches a ChildRestarting that waits out a backoff first,
// about child ("": any).
func isBackoff(child string) func(supervision.Event) bool {
	return func(ev supervision.Event) bool {
		e, ok := ev.(supervision.ChildRestarting)
		return ok && e.Delay > 0 && (child == "" || e.Child == child)
	}
}

// nextProcess returns the procbridge event of type T of the next
// ChildProcess that carries one, about child of supervisor sup ("" matches
// any).
func nextProcess[T procbridge.Event](t testing.TB, r *recorder, sup, child string) T {
	t.Helper()
	var zero T
	ev := r.wait(t, fmt.Sprintf("ChildProcess %T for %s/%s", zero, sup, child), func(ev supervision.Event) bool {
		cp, ok := ev.(supervision.ChildProcess)
		if !ok {
			return false
		}
		_, ok = cp.Event.(T)
		h := ev.EventHeader()
		return ok && (sup == "" || h.Supervisor == sup) && (child == "" || h.Child == child)
	})
	return ev.(supervision.ChildProcess).Event.(T)
}

// start starts a tree that reports to a new recorder (after opts.OnEvent,
// when set) and is stopped (and checked to have stopped in time) when the
// test ends. Children whose names
// start with one of goOnPrefixes are told to go on when they are ready.
func start(t testing.TB, spec supervision.Spec, opts supervision.Options, goOnPrefixes ...string) (*supervision.Tree, *recorder) {
	t.Helper()
	rec := newRecorder()
	seen := rec.on
	if user := opts.OnEvent; user != nil {
		seen = func(ev supervision.Event) { user(ev); rec.on(ev) }
	}
	opts.OnEvent = goOnWhenReady(seen, goOnPrefixes...)
	ctx, cancel := ctxTree(spec)
	defer cancel()
	tree, err := supervision.Start(ctx, spec, opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	rec.drain() // later waits see what happens after the start
	t.Cleanup(func() {
		ctx, cancel := ctxTree(spec)
		defer cancel()
		if _, err := tree.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return tree, rec
}

// ctxTree bounds the start or the stop of a tree of spec: a tree starts
// its children one after another, each ready before the next, and stops
// them likewise, and a loaded machine takes a second or more to start one
// race-built worker. The bound is the test deadline for every 16 children
// at the root (each child's own ready timeout and stop grace still catch
// one that hangs).
func ctxTree(spec supervision.Spec) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), deadline*time.Duration(1+len(spec.Children)/16))
}

// childOf returns what s's Children says about the child called name, or
// an error wrapping supervision.ErrNoChild.
func childOf(ctx context.Context, s *supervision.Supervisor, name string) (supervision.ChildInfo, error) {
	cs, err := s.Children(ctx)
	if err != nil {
		return supervision.ChildInfo{}, err
	}
	for _, c := range cs {
		if c.Name == name {
			return c, nil
		}
	}
	return supervision.ChildInfo{}, fmt.Errorf("%s: child %q: %w", s.Path(), name, supervision.ErrNoChild)
}

// childInfo returns what s's Children says about the child called name.
func childInfo(t testing.TB, s *supervision.Supervisor, name string) supervision.ChildInfo {
	t.Helper()
	cs, err := s.Children(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s has no child %q", s.Path(), name)
	return supervision.ChildInfo{}
}

// childPid returns the OS pid of a running child.
func childPid(t testing.TB, s *supervision.Supervisor, name string) int {
	t.Helper()
	c := childInfo(t, s, name)
	if c.Pid == 0 {
		t.Fatalf("%s/%s is not running: %v", s.Path(), name, c.State)
	}
	return c.Pid
}

// The shared test helpers, by their short names here.
var (
	ctxT     = testproc.Context
	waitGone = testproc.WaitGone
	openFds  = testproc.OpenFds
)

const deadline = testproc.Deadline

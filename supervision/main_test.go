//go:build linux

package supervision_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
	// exit is ready, then, told to go on (goOn), exits with the status its
	// last argument says.
	worker.Register("exit", func(ctx context.Context, w *worker.Worker) error {
		args := w.Args()
		code, _ := strconv.Atoi(args[len(args)-1])
		waitGoOn(ctx, w)
		os.Exit(code)
		return nil
	})
	// crash is ready, then, told to go on, leaves a timestamp
	// (worker.Mark) and kills itself.
	worker.Register("crash", func(ctx context.Context, w *worker.Worker) error {
		if !waitGoOn(ctx, w) {
			return nil
		}
		w.Mark(worker.Monotonic())
		return testproc.DieBy(syscall.SIGKILL)
	})
	// flaky counts its starts in the directory of its argument: the first
	// start crashes once it is told to go on, the second dies before it is
	// ready, later ones run.
	worker.Register("flaky", func(ctx context.Context, w *worker.Worker) error {
		dir := w.Args()[0]
		ents, _ := os.ReadDir(dir)
		n := len(ents)
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(n)), nil, 0o600); err != nil {
			return err
		}
		switch n {
		case 0:
			waitGoOn(ctx, w)
			return testproc.DieBy(syscall.SIGKILL)
		case 1:
			os.Exit(4)
		}
		w.Ready()
		<-ctx.Done()
		return nil
	})
	// stop-beating beats a few times, then its loop stops beating.
	worker.Register("stop-beating", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		for range 5 {
			w.Beat()
			time.Sleep(w.HeartbeatInterval())
		}
		<-ctx.Done()
		return nil
	})
}

// waitGoOn says ready, then waits for SIGUSR1 (goOn), and reports whether
// it came (false: the worker is being stopped). A worker that exits as soon
// as it is ready may be reported as never ready (procbridge.Start sees the
// death and the ready word at once and may pick either), so the helpers
// that end on their own wait for the test to see them ready first.
func waitGoOn(ctx context.Context, w *worker.Worker) bool {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	w.Ready()
	select {
	case <-usr1:
		return true
	case <-ctx.Done():
		return false
	}
}

// goOnWhenReady returns an OnEvent that tells every child whose name
// starts with one of prefixes to go on as soon as it is ready, then passes
// the event to next.
func goOnWhenReady(next func(supervision.Event), prefixes ...string) func(supervision.Event) {
	return func(ev supervision.Event) {
		if r, ok := ev.(supervision.ChildReady); ok && r.Pid != 0 {
			for _, p := range prefixes {
				if strings.HasPrefix(r.Child, p) {
					_ = syscall.Kill(r.Pid, syscall.SIGUSR1)
				}
			}
		}
		if next != nil {
			next(ev)
		}
	}
}

// deadline is how long a test waits for something before it calls it a hang.
const deadline = 30 * time.Second

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
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

// start starts a tree that reports to a new recorder and is stopped (and
// checked to have stopped in time) when the test ends. Children whose names
// start with one of goOnPrefixes are told to go on when they are ready.
func start(t testing.TB, spec supervision.Spec, opts supervision.Options, goOnPrefixes ...string) (*supervision.Tree, *recorder) {
	t.Helper()
	rec := newRecorder()
	opts.OnEvent = goOnWhenReady(rec.on, goOnPrefixes...)
	tree, err := supervision.Start(ctxT(t), spec, opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	rec.drain() // later waits see what happens after the start
	t.Cleanup(func() {
		if _, err := tree.Stop(ctxT(t)); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return tree, rec
}

// childPid returns the OS pid of a running child.
func childPid(t testing.TB, s *supervision.Supervisor, name string) int {
	t.Helper()
	c, err := s.Child(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if c.Pid == 0 {
		t.Fatalf("%s/%s is not running: %v", s.Path(), name, c.State)
	}
	return c.Pid
}

// waitGone waits until pid has ended, or fails the test after the deadline.
func waitGone(t testing.TB, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(deadline/time.Millisecond))
	if err != nil || n == 0 {
		t.Fatalf("pid %d still alive after %v", pid, deadline)
	}
}

var warm sync.Once

// openFds counts this process's open descriptors, after procbridge has
// opened the ones it keeps for the life of the program (the lifeline pipe,
// /dev/null).
func openFds(t testing.TB) int {
	t.Helper()
	warm.Do(func() {
		p, err := procbridge.Start(context.Background(), procbridge.Spec{Worker: "wait"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-p.Done()
	})
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

//go:build linux

package procbridge_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

// TestMain runs a helper worker when the test binary is re-executed as one,
// and checks for leaked goroutines otherwise.
func TestMain(m *testing.M) {
	testproc.Run(m, func() {
		if os.Getenv("PB_BENCH_DIE") != "" {
			benchDie() // a worker without the SDK, for the floor benchmarks
		}
	}, func() {
		if os.Getenv(envKernelDie) != "" {
			kernelDie() // a worker without the SDK, for the eBPF death watch's benchmarks
		}
	}, func() {
		if os.Getenv(envContainSup) != "" {
			containSup() // a supervising program, SIGKILLed by the containment tests
		}
	})
}

// Helpers: each is a worker the tests start by name.
func init() {
	worker.Register("sigkill", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		hooks.Mark(mono.Now())
		return testproc.DieBy(syscall.SIGKILL)
	})
	worker.Register("sigsegv", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		// A real SIGSEGV death: restore the default action behind the Go
		// runtime's back, then raise it.
		resetDefault(syscall.SIGSEGV)
		return testproc.DieBy(syscall.SIGSEGV)
	})
	worker.Register("exit-now", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		code, _ := strconv.Atoi(os.Args[1])
		if code == 0 {
			return nil // a clean end: the SDK clears the death notice first
		}
		os.Exit(code)
		return nil
	})
	// stop-beating beats for Args[0] beats, then sleeps (Args[1] == "sleep")
	// or spins (Args[1] == "spin") without beating.
	worker.Register("beat-then-stall", func(ctx context.Context, w *worker.Worker) error {
		n, _ := strconv.Atoi(os.Args[1])
		w.Ready()
		for range n {
			w.Beat()
			time.Sleep(w.HeartbeatInterval())
		}
		w.Beat()
		hooks.Mark(mono.Now())
		if os.Args[2] == "spin" {
			for spin := 0; ; spin++ { //nolint:staticcheck // the hang under test
			}
		}
		select {}
	})
	worker.Register("fork-grandchild", func(ctx context.Context, w *worker.Worker) error {
		cmd := exec.Command("sleep", "1000")
		if err := cmd.Start(); err != nil {
			return err
		}
		fmt.Println(cmd.Process.Pid)
		w.Ready()
		<-ctx.Done()
		select {} // ignore the request: the group kill must take the grandchild
	})
	worker.Register("flood", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		line := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n")
		for range 200_000 { // 12.8 MB
			if _, err := os.Stdout.Write(line); err != nil {
				return err
			}
		}
		return nil
	})
	worker.Register("hello", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		fmt.Println("hello, out")
		fmt.Fprintln(os.Stderr, "hello, err")
		return nil
	})
	// list-fds prints "fd target" for every open descriptor.
	worker.Register("list-fds", func(ctx context.Context, w *worker.Worker) error {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return err
		}
		for _, e := range ents {
			target, _ := os.Readlink("/proc/self/fd/" + e.Name())
			fmt.Println(e.Name(), target)
		}
		fmt.Println("end")
		w.Ready()
		<-ctx.Done()
		return nil
	})
	// supervisor starts a "wait" worker, prints its pid, and waits to die.
	worker.Register("supervisor", func(ctx context.Context, w *worker.Worker) error {
		p, err := procbridge.Start(ctx, procbridge.Spec{Worker: "wait"})
		if err != nil {
			return err
		}
		fmt.Println(p.Pid())
		w.Ready()
		select {}
	})
}

// benchDie is a plain program (no SDK): it prints a CLOCK_MONOTONIC mark on
// stdout and SIGKILLs itself, after a short pause so the watcher is parked.
func benchDie() {
	d, _ := time.ParseDuration(os.Getenv("PB_BENCH_DIE"))
	time.Sleep(d)
	fmt.Println(mono.Now())
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// resetDefault sets sig's action to SIG_DFL with a raw rt_sigaction, behind
// the Go runtime's back.
func resetDefault(sig syscall.Signal) {
	var act [4]uintptr // sa_handler = SIG_DFL (0), flags, restorer, mask
	syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafePointer(&act)), 0, 8, 0, 0)
}

// nextEvent returns the next event of p, or fails after the deadline.
func nextEvent(t *testing.T, p *procbridge.Process) procbridge.Event {
	t.Helper()
	select {
	case e, ok := <-p.Events():
		if !ok {
			t.Fatal("events closed")
		}
		return e
	case <-time.After(deadline):
		t.Fatalf("no event from %s after %v", procbridge.Name(p), deadline)
	}
	return nil
}

// exitedEvent skips to the Exited event.
func exitedEvent(t *testing.T, p *procbridge.Process) procbridge.Exited {
	t.Helper()
	for {
		if e, ok := nextEvent(t, p).(procbridge.Exited); ok {
			return e
		}
	}
}

func init() {
	// extra reads its first extra file and prints it.
	worker.Register("extra", func(ctx context.Context, w *worker.Worker) error {
		f := worker.ExtraFile(0)
		if f == nil {
			return fmt.Errorf("no extra file")
		}
		b := make([]byte, 64)
		n, _ := f.ReadAt(b, 0)
		fmt.Println(string(b[:n]))
		w.Ready()
		return nil
	})
}

func init() {
	// core raises its core-size limit and dies of SIGSEGV with the default
	// action, so the kernel writes a core (into Spec.Dir, with the default
	// core_pattern "core").
	worker.Register("core", func(ctx context.Context, w *worker.Worker) error {
		lim := syscall.Rlimit{Cur: 1 << 30, Max: 1 << 30}
		if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &lim); err != nil {
			return err
		}
		w.Ready()
		resetDefault(syscall.SIGSEGV)
		return testproc.DieBy(syscall.SIGSEGV)
	})
}

// nextLine returns the next line p printed, or fails after the deadline.
func nextLine(t *testing.T, p *procbridge.Process) string {
	t.Helper()
	select {
	case l, ok := <-p.Lines():
		if !ok {
			t.Fatal("lines closed")
		}
		return l.Text
	case <-time.After(deadline):
		t.Fatalf("no line from %s after %v", procbridge.Name(p), deadline)
	}
	return ""
}

// waitFor waits until cond holds, looking every millisecond, or fails
// after the deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	timeout := time.After(deadline)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("%s: not after %v", what, deadline)
		}
	}
}

// The shared test helpers, by their short names here.
var (
	ctxT     = testproc.Context
	waitGone = testproc.WaitGone
	openFds  = testproc.OpenFds
)

const deadline = testproc.Deadline

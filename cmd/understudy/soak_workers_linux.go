//go:build linux

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/procbridge/worker"
)

// soakWorker is the one Go worker of the soak's trees. Its arguments are
// its kind (one of the fault kinds) and the bounds, in milliseconds, of the
// random time it runs healthy before its fault.
const soakWorker = "soak"

// soakDirEnv names the directory where a grandchild worker writes the pids
// of its descendants, for the supervising process to check they end with
// it.
const soakDirEnv = "UNDERSTUDY_SOAK_DIR"

func init() {
	worker.Register(soakWorker, soakWork)
}

func soakWork(ctx context.Context, w *worker.Worker) error {
	args := os.Args[1:]
	if len(args) != 3 {
		return fmt.Errorf("soak worker: want KIND MIN_MS MAX_MS, got %q", args)
	}
	kind := args[0]
	lo, err1 := strconv.Atoi(args[1])
	hi, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil || lo < 0 || hi < lo {
		return fmt.Errorf("soak worker: bad delay bounds %q %q", args[1], args[2])
	}
	delay := time.Duration(lo+rand.IntN(hi-lo+1)) * time.Millisecond

	switch kind {
	case "never-ready":
		<-ctx.Done()
		return nil
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		ctx = context.Background() // and no clean return on a stop either
	case "grandchild":
		if err := startDescendants(); err != nil {
			// For the supervising process's report: the worker's own
			// output is discarded.
			os.WriteFile(filepath.Join(os.Getenv(soakDirEnv), "err."+strconv.Itoa(os.Getpid())), []byte(err.Error()), 0o600)
			return err
		}
	case "sigsegv":
		// No core file: the soak makes thousands of these.
		unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	}
	w.Ready()

	tick := w.HeartbeatInterval()
	if tick <= 0 {
		tick = 10 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var fault <-chan time.Time
	switch kind {
	case "healthy", "flood", "ignore-term":
	default:
		ft := time.NewTimer(delay)
		defer ft.Stop()
		fault = ft.C
	}
	if kind == "flood" {
		// From a goroutine of its own: a write blocked on a full pipe
		// must not hold up the beats.
		go flood()
	}
	for {
		w.Beat()
		select {
		case <-ctx.Done():
			return nil
		case <-fault:
			return doFault(kind)
		case <-t.C:
		}
	}
}

// flood writes 1 MB of 100-byte lines a second to stdout, for ever.
func flood() {
	chunk := strings.Repeat(strings.Repeat("x", 99)+"\n", 100)
	t := time.NewTicker(10 * time.Millisecond)
	for range t.C {
		if _, err := os.Stdout.WriteString(chunk); err != nil {
			return
		}
	}
}

// doFault ends this worker the way its kind says.
func doFault(kind string) error {
	switch kind {
	case "sigkill":
		selfSignal(unix.SIGKILL)
	case "sigsegv":
		selfSignal(unix.SIGSEGV)
	case "sigstop":
		selfSignal(unix.SIGSTOP)
		select {} // stopped; the monitor calls it hung and kills it
	case "exit0":
		os.Exit(0)
	case "exitN", "grandchild":
		os.Exit(3)
	case "crash":
		os.Exit(1)
	}
	return fmt.Errorf("soak worker: no fault %q", kind)
}

// selfSignal sends sig to this thread and waits for it to land. For
// SIGSEGV it first restores the default action behind the Go runtime's
// back, so that the process dies of it as a C program would, instead of the
// runtime turning it into a panic.
func selfSignal(sig unix.Signal) {
	if sig == unix.SIGSEGV {
		var act [4]uintptr // sa_handler = SIG_DFL, flags, restorer, mask
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	}
	unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
	if sig != unix.SIGSTOP {
		select {}
	}
}

// startDescendants starts a child in this worker's process group and a
// daemon that left it (setsid, double-forked), both long sleeps, and writes
// their pids to the soak's directory as the file named by this pid.
func startDescendants() error {
	dir := os.Getenv(soakDirEnv)
	if dir == "" {
		return fmt.Errorf("soak worker: %s not set", soakDirEnv)
	}
	group := exec.Command("sleep", "1000")
	if err := group.Start(); err != nil {
		return fmt.Errorf("soak worker: start a child: %w", err)
	}
	go group.Wait()
	// The shell's background job leaves the shell's process group (setsid
	// makes it a session of its own, in the same process, as it leads no
	// group) and outlives the shell, which prints its pid and exits.
	b, err := exec.Command("sh", "-c", "setsid sleep 1001 </dev/null >/dev/null 2>&1 & echo $!").Output()
	if err != nil {
		return fmt.Errorf("soak worker: start a daemon: %w", err)
	}
	dpid := strings.TrimSpace(string(b))
	out := fmt.Sprintf("%d %s\n", group.Process.Pid, dpid)
	tmp := filepath.Join(dir, "gc."+strconv.Itoa(os.Getpid())+".tmp")
	if err := os.WriteFile(tmp, []byte(out), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "gc."+strconv.Itoa(os.Getpid())))
}

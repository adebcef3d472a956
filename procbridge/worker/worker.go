package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge/internal/registry"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// Exit statuses of a worker process that could not run its function.
const (
	exitUnknownWorker = 2               // no worker registered under the name it was started for
	exitBadSegment    = shm.ExitRefused // the segment handed down is missing or unreadable (EX_CONFIG)
)

// ErrNotAWorker: this process was not started by a supervisor.
var ErrNotAWorker = errors.New("worker: not started by an understudy supervisor (no " + shm.EnvSegmentFd + ")")

// Register makes fn, a worker, available under name to
// procbridge.Spec.Worker. Call it from init (or before main's worker.Main).
// Like database/sql.Register, it panics when the name is empty or taken:
// that is a programming error, found the first time the program runs.
//
// A worker runs until ctx ends (the supervisor sent SIGTERM) or its work is
// done. It calls w.Ready once it is warm. Returning nil exits the process
// with status 0 (a clean end: the SDK first clears the early death notice,
// so the end is not taken for a crash); an error is printed and exits with
// status 1. Its arguments (procbridge.Spec.Args) are os.Args[1:].
//
// A process started for a worker that cannot run it exits with status 2
// when no worker is registered under the name it was started for, and 78
// (EX_CONFIG) when the segment handed down is missing or unreadable.
func Register(name string, fn func(ctx context.Context, w *Worker) error) {
	if name == "" || fn == nil {
		panic("worker: Register needs a name and a function")
	}
	if !registry.Add(name, fn) {
		panic(fmt.Sprintf("worker: Register called twice for %q", name))
	}
}

// Main runs the registered worker this process was started for, and exits
// with its outcome. In a process that is not a worker it returns at once.
// Call it first thing in main (or TestMain).
func Main() {
	registry.SetMainCalled()
	if how := os.Getenv(linux.KeeperEnv); how != "" {
		// Re-executed as its supervising process's keeper (see
		// procbridge's containment): it ends that process's workers
		// when that process dies.
		linux.Keep(how)
		os.Exit(0)
	}
	name := os.Getenv(shm.EnvWorker)
	if name == "" {
		return
	}
	fn, ok := registry.Lookup(name)
	if !ok {
		exe, err := os.Executable() // os.Args[0] is the worker's title, not the program
		if err != nil {
			exe = os.Args[0]
		}
		fmt.Fprintf(os.Stderr, "understudy worker: no worker is registered as %q in %s (registered: %s)\n", name, exe, strings.Join(registry.Names(), ", "))
		os.Exit(exitUnknownWorker)
	}
	w, err := Attach()
	if err != nil {
		fmt.Fprintf(os.Stderr, "understudy worker %s: %v\n", name, err)
		os.Exit(exitBadSegment)
	}
	w.name = name
	// SIGTERM stays caught until the process exits: a second one, sent
	// while the worker winds up after the first, must not kill it before
	// its clean exit disarms the death notice.
	ctx, _ := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	err = fn.(func(context.Context, *Worker) error)(ctx, w)
	w.exit(err)
}

// Worker is this process's handle on its segment.
type Worker struct {
	name string
	seg  *shm.Segment
	lane *shm.Lane

	readyOnce sync.Once
	dog       *watchdog     // nil without a heartbeat
	epoch     atomic.Uint64 // the epoch this process is primary under
	buf       []byte        // scratch for adopting state
}

var attached atomic.Pointer[Worker]

// Attach maps the segment the supervisor handed down and validates it. It
// returns the same Worker when called again. A process that links the SDK
// but was started by Spec.Path with Spec.SDK calls it at the top of main.
func Attach() (*Worker, error) {
	if w := attached.Load(); w != nil {
		return w, nil
	}
	w, err := attach()
	if err != nil {
		return nil, err
	}
	if !attached.CompareAndSwap(nil, w) {
		return attached.Load(), nil
	}
	return w, nil
}

func envFd(key string) (int, bool, error) {
	v := os.Getenv(key)
	if v == "" {
		return -1, false, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 || fd > 1<<20 {
		return -1, true, fmt.Errorf("worker: %s = %q is not a descriptor number", key, v)
	}
	return fd, true, nil
}

// Ready tells the supervisor the worker is warm: procbridge.Start returns.
// Calling it again does nothing.
func (w *Worker) Ready() {
	w.readyOnce.Do(func() {
		word := w.lane.ReadyWord()
		if atomic.CompareAndSwapUint32(word, shm.ReadyNo, shm.ReadyYes) {
			wake(word)
		}
	})
}

// Beat records a heartbeat: call it from the loop that does the work, so a
// stuck loop stops beating. It costs two atomic stores and a clock read,
// and at most twice per heartbeat interval a system call that moves the
// watchdog the supervisor sleeps on to just before this beat's deadline: a
// supervisor of healthy workers does not wake to look at them.
func (w *Worker) Beat() {
	now := mono.Now()
	w.lane.Beat(now)
	if w.dog != nil {
		w.dog.beat(now)
	}
}

// watchdog is the timer the supervisor's hang monitor sleeps on
// (shm.EnvWatchdogFd): a worker that stops beating lets it expire.
type watchdog struct {
	fd    int
	after int64        // ns from a beat to the expiry: the timeout less the monitor's lead
	gap   int64        // ns between re-arms, at least
	armed atomic.Int64 // mono ns of the last re-arm
}

// beat moves the expiry to now plus after, unless it moved less than gap
// ago (a loop that beats far more often than the interval). The expiry is
// then up to gap early, and the monitor, woken early, sees the later beat
// and sets the watchdog itself.
func (d *watchdog) beat(now int64) {
	if now-d.armed.Load() < d.gap {
		return
	}
	d.armed.Store(now)
	armWatchdog(d.fd, now+d.after)
}

// HeartbeatInterval is how often the supervisor expects a beat (0: never).
func (w *Worker) HeartbeatInterval() time.Duration {
	return time.Duration(w.seg.Layout().HeartbeatInterval)
}

// Lane returns the lane of the segment this process serves in: 0 for a
// process of its own; in a hot-standby group, one lane per member.
func (w *Worker) Lane() int { return w.lane.Index() }

// ExtraFile returns the i-th of the spec's ExtraFiles (descriptor 6+i), or
// nil when there is no such descriptor.
func ExtraFile(i int) *os.File {
	fd := 6 + i
	if i < 0 || !validFd(fd) {
		return nil
	}
	return os.NewFile(uintptr(fd), "understudy-extra-"+strconv.Itoa(i))
}

// exit ends the process with the worker function's outcome. A clean end
// first clears the early death notice, so that the exit is not reported
// as a crash (no Dying event); a crash after that is still caught, by the
// pidfd.
func (w *Worker) exit(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "understudy worker %s: %v\n", w.name, err)
		os.Exit(1)
	}
	disarmRobust(w.lane)
	os.Exit(0)
}

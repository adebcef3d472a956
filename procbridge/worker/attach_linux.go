//go:build linux

package worker

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

func attach() (*Worker, error) {
	segFd, ok, err := envFd(shm.EnvSegmentFd)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotAWorker
	}
	seg, verdict, err := shm.Open(segFd)
	if err != nil {
		return nil, fmt.Errorf("worker: the segment at fd %d is unusable (%v): %w", segFd, verdict, err)
	}
	laneStr := os.Getenv(shm.EnvLane)
	lane, err := strconv.Atoi(laneStr)
	if err != nil || seg.Lane(lane) == nil {
		shm.SetAttachVerdict(seg.Bytes(), shm.AttachBadLane)
		return nil, fmt.Errorf("worker: %s = %q: not a lane of a %d-lane segment", shm.EnvLane, laneStr, seg.Layout().Lanes)
	}
	w := &Worker{seg: seg, lane: seg.Lane(lane)}
	w.lane.SetPid(os.Getpid())
	hooks.SetMark(w.lane.SetMark)
	// The role comes from the supervisor, in the environment: the control
	// word is any process's to write. A spare holds an epoch no control
	// word can hold (it has 56 bits of epoch) until it is promoted.
	w.epoch.Store(^uint64(0))
	if s, ok := os.LookupEnv(shm.EnvEpoch); ok {
		if e, err := strconv.ParseUint(s, 10, 64); err == nil && e < shm.MaxEpoch {
			w.epoch.Store(e) // started as the primary
		}
	} else if e, active := seg.Control(); active == lane {
		w.epoch.Store(e) // a supervisor that does not say: the word tells
	}
	initTitle()
	w.buf = touched(seg.Layout().StateSize)
	if os.Getenv(envNoRobust) == "" {
		if err := armRobust(w.lane); err != nil {
			fmt.Fprintf(os.Stderr, "understudy worker: no early death notice: %v\n", err)
		}
	}

	if fd, ok, err := envFd(shm.EnvWatchdogFd); ok && err == nil && validFd(fd) {
		unix.CloseOnExec(fd)
		if l := seg.Layout(); l.HeartbeatInterval > 0 && l.HeartbeatTimeout > 0 {
			// The watchdog expires shm.WatchdogLead before the deadline,
			// re-armed at most every shm.WatchdogGap.
			ivl, timeout := l.HeartbeatInterval, l.HeartbeatTimeout
			w.dog = &watchdog{fd: fd, after: timeout - shm.WatchdogLead(ivl, timeout), gap: shm.WatchdogGap(ivl, timeout)}
		}
	}

	// What we inherited must not reach programs this worker runs: a
	// grandchild holding the sentinel would hide our death.
	unix.CloseOnExec(segFd)
	if fd, ok, _ := envFd(shm.EnvSentinelFd); ok {
		unix.CloseOnExec(fd)
	}
	if fd, ok, _ := envFd(shm.EnvLifelineFd); ok {
		unix.CloseOnExec(fd)
		go watchLifeline(fd)
	}
	return w, nil
}

// touched returns a buffer of n bytes whose pages are in place: the one
// a spare adopts the committed state through when it is promoted (see
// stateBuf), made now rather than on the takeover's path, where a large
// state's fresh pages (a page fault each, zeroed by the kernel; with
// memory locked as it is touched, every one) held up the new primary's
// first block by a millisecond or more.
func touched(n int) []byte {
	if n <= 0 {
		return nil
	}
	b := make([]byte, n)
	for i := 0; i < n; i += os.Getpagesize() {
		b[i] = 0
	}
	return b
}

// watchLifeline exits the process when the supervisor dies: the lifeline's
// write end lives only in the supervisor, so its read end sees EOF when the
// supervisor is gone, however it died. This goroutine lives as long as the
// process, by design.
//
// Only EOF means the supervisor is gone: a read that fails because the
// descriptor was made non-blocking (by whoever shares its description)
// polls and reads again.
func watchLifeline(fd int) {
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		if err == unix.EAGAIN {
			p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			unix.Poll(p, -1)
			continue
		}
		if err != unix.EINTR && (err != nil || n == 0) {
			break // EOF, or a descriptor that cannot be read
		}
	}
	fmt.Fprintln(os.Stderr, "understudy worker: the supervisor is gone; exiting")
	unix.Kill(0, unix.SIGKILL) // our whole group, like the supervisor would
	os.Exit(1)
}

// envUnraised, when set, leaves a parked spare's thread as it is:
// benchmarks use it to measure what promptWhileParked buys.
const envUnraised = "UNDERSTUDY_TEST_UNRAISED"

// envNoRobust, when set, skips the robust thread: tests use it for a worker
// whose death notice thread is gone, which the pidfd alone must catch.
const envNoRobust = "UNDERSTUDY_TEST_NO_ROBUST"

func wake(word *uint32) { linux.FutexWake(word, 1<<30) }

// promptWhileParked raises the calling thread, locked to its goroutine
// until end is called (linux.RaiseOwn, at the thread's nice value). A parked
// spare sleeps, so it costs nothing while it waits;
// woken, it runs before the tasks that hold the CPUs, the dying primary's
// own teardown among them. A program that chose a scheduling class of its
// own for the thread keeps it.
func promptWhileParked() *prompt {
	runtime.LockOSThread()
	if os.Getenv(envUnraised) != "" {
		return &prompt{}
	}
	return &prompt{linux.RaiseOwn()}
}

// prompt is a thread raised by promptWhileParked.
type prompt struct{ linux.Raised }

// end unlocks the thread (on the goroutine that parked). After a promotion
// the thread keeps its priority for promptGrace more, for the new
// primary's first work (adopting the state, its first commit) to run
// ahead too; otherwise it is restored at once.
func (p *prompt) end(promoted bool) {
	runtime.UnlockOSThread()
	if promoted {
		time.AfterFunc(promptGrace, p.Restore)
		return
	}
	p.Restore()
}

// promptGrace is how long a promoted spare's thread stays raised.
const promptGrace = time.Millisecond

// armWatchdog sets the timerfd fd to expire once at the monotonic time at.
func armWatchdog(fd int, at int64) { linux.SetTimer(fd, at) }

func validFd(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

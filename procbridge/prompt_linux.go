//go:build linux

package procbridge

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// promptThread raises the calling thread (locked to its goroutine, for
// good) above ordinary tasks, so that it gets a CPU as soon as it is woken
// even while other tasks hold every CPU: a hung worker spinning, or a dying
// one's threads tearing it down. The bridge's watchers use it: the hang
// monitor and the death-notice waiters, which sleep nearly always and run
// for microseconds when they wake.
//
// It asks for the lowest real-time priority (SCHED_FIFO 1), which this
// process may have with CAP_SYS_NICE or an RLIMIT_RTPRIO above 0; else a
// short slice (sched_setattr's runtime of 100 us, honoured by Linux 6.12
// and later), with which the scheduler lets a waking task preempt one of a
// longer slice. Without either, a watcher woken on a busy CPU waits for
// the running task's slice to end: milliseconds. Processes forked from the
// thread (none are) would not inherit the priority.
func promptThread() {
	const resetOnFork = 0x01 // SCHED_FLAG_RESET_ON_FORK
	fifo := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1, Flags: resetOnFork}
	if unraised.Load() {
		return
	}
	if unix.SchedSetAttr(0, &fifo, 0) != nil {
		short := unix.SchedAttr{Policy: unix.SCHED_NORMAL, Runtime: uint64(100 * time.Microsecond), Flags: resetOnFork}
		unix.SchedSetAttr(0, &short, 0)
	}
}

// unraised, set by benchmarks, leaves the watchers' threads as they are
// (promptThread), to measure what raising them buys.
var unraised atomic.Bool

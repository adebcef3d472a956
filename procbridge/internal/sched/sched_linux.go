// Package sched raises a thread above ordinary tasks, so that it gets a CPU
// the moment it is woken even while other tasks hold every CPU. The
// bridge's watchers (the hang monitor, the death-notice waiters) and a
// worker's parked spare use it; they sleep nearly always and run for
// microseconds when they wake.
package sched

import "golang.org/x/sys/unix"

// ResetOnFork is SCHED_FLAG_RESET_ON_FORK: a process forked from a raised
// thread starts at the default scheduling. Only a privileged process may
// clear it once set.
const ResetOnFork = 0x01

// SliceNs is the short slice asked for when the real-time class is refused.
const SliceNs = 100_000

// Raise raises the calling thread, which the caller keeps locked to its
// goroutine: to the lowest real-time priority (SCHED_FIFO 1), which the
// process may have with CAP_SYS_NICE or an RLIMIT_RTPRIO above 0, else to a
// short slice at the given nice value (sched_setattr's runtime, honoured by
// Linux 6.12 and later), with which the scheduler lets a waking task preempt
// one of a longer slice. Without either, a thread woken on a busy CPU waits
// for the running task's slice to end: milliseconds. Both keep ResetOnFork.
// It reports whether either was granted.
func Raise(nice int32) bool {
	fifo := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1, Flags: ResetOnFork}
	if unix.SchedSetAttr(0, &fifo, 0) == nil {
		return true
	}
	short := unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: nice, Runtime: SliceNs, Flags: ResetOnFork}
	return unix.SchedSetAttr(0, &short, 0) == nil
}

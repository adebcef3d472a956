//go:build linux

package audio

import (
	"bytes"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/audio/internal/bus"
	"github.com/understudy/understudy/internal/linux"
)

// A real-time process: the Go scheduler's own threads on the loop's path.
//
// A goroutine locked to its thread that sysmon preempts (the loop is, after
// 10 ms in which its futex waits were too short for its P to be taken
// away) gives its P up, and another thread of the process must run the
// scheduler to hand the P back. In normal scheduling that thread waits
// behind whatever else the machine runs, milliseconds to tens of
// milliseconds. So a real-time process has spare Ps (a system call that
// returns finds one idle and keeps going) and every one of its threads in
// SCHED_FIFO at the lowest level, the loop's own above it: the hand-off is
// then served in microseconds. Nothing in such a process runs user code
// besides the loop, so raising it all starves nothing: the threads that
// are not the loop sleep nearly always.

// rtProcs is the GOMAXPROCS of a real-time process: an idle P for every
// thread that returns from a system call while the CPUs' worth are taken.
func rtProcs() int { return runtime.NumCPU() + 4 }

// raiseProcess puts every thread of this process but the calling one in
// SCHED_FIFO 1, without reset-on-fork, so that the threads the runtime
// makes later (cloned from these) are raised too. The calling thread is
// the loop's, at its own level. It reports whether every thread was raised.
func raiseProcess() bool {
	self := unix.Gettid()
	all := true
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
	ok := linux.EachTask(os.Getpid(), func(tid int) {
		if tid != self && unix.SchedSetAttr(tid, &attr, 0) != nil {
			all = false
		}
	})
	return ok && all
}

// lockMemory locks the process's pages, present and future, so that no page
// fault stalls the loop, when it may: with CAP_IPC_LOCK or an unlimited
// RLIMIT_MEMLOCK. With a finite limit it does not try: MCL_FUTURE would make
// the runtime's later mappings fail once the limit is reached.
func lockMemory() bool {
	if !mayLockAll() {
		return false
	}
	return unix.Mlockall(unix.MCL_CURRENT|unix.MCL_FUTURE) == nil
}

// mayLockAll reports whether mlockall of everything, present and future,
// is allowed: CAP_IPC_LOCK in the effective set, or RLIMIT_MEMLOCK
// unlimited.
func mayLockAll() bool {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim) == nil && lim.Cur == unix.RLIM_INFINITY {
		return true
	}
	return hasCap(unix.CAP_IPC_LOCK)
}

// hasCap reports whether the process has capability c in its effective set.
func hasCap(c int) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("CapEff:")); ok {
			var m uint64
			for _, ch := range bytes.TrimSpace(v) {
				switch {
				case ch >= '0' && ch <= '9':
					m = m<<4 | uint64(ch-'0')
				case ch >= 'a' && ch <= 'f':
					m = m<<4 | uint64(ch-'a'+10)
				}
			}
			return m&(1<<uint(c)) != 0
		}
	}
	return false
}

// setupRealTime makes the calling process, whose calling thread runs the
// loop at prio, a real-time process as above, as far as it is allowed, and
// returns the bus Setup bits of what it got.
func setupRealTime() uint32 {
	var got uint32
	if raiseProcess() {
		got |= bus.SetupThreadsRaised
	}
	if lockMemory() {
		got |= bus.SetupMemoryLocked
	}
	return got
}

package testproc

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// Sched is a thread's scheduling class and parameters (sched_getattr).
type Sched struct {
	Policy   uint32
	Priority uint32
	Nice     int32
	Runtime  uint64 // ns: the slice a fair task asked for (Linux 6.12+)
}

// Scheduling returns the scheduling of thread tid (0: the calling thread),
// or the zero Sched when it cannot be read.
func Scheduling(tid int) Sched {
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return Sched{}
	}
	return Sched{a.Policy, a.Priority, a.Nice, a.Runtime}
}

// Raised reports whether s is what procbridge gives its watchers' threads
// and a parked spare: the lowest real-time priority, or a 100 us slice.
func (s Sched) Raised() bool {
	return s.Policy == unix.SCHED_FIFO && s.Priority == 1 ||
		s.Policy == unix.SCHED_NORMAL && s.Runtime == 100_000
}

// CanRaise reports whether this process can raise a thread as procbridge
// does, and the kernel shows it: else tests of it have nothing to see. It
// raises a thread of its own and puts it back.
func CanRaise() bool {
	return onOwnThread(func(old *unix.SchedAttr) bool {
		fifo := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1}
		short := unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: old.Nice, Runtime: 100_000}
		if unix.SchedSetAttr(0, &fifo, 0) != nil && unix.SchedSetAttr(0, &short, 0) != nil {
			return false
		}
		return Scheduling(0).Raised()
	})
}

// CanFIFO reports whether this process may put a thread in SCHED_FIFO; it
// tries on a thread of its own and puts it back.
func CanFIFO() bool {
	return onOwnThread(func(*unix.SchedAttr) bool {
		fifo := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1}
		return unix.SchedSetAttr(0, &fifo, 0) == nil
	})
}

// onOwnThread runs try on a thread locked to it, with the thread's
// scheduling, and gives the thread that scheduling back after.
func onOwnThread(try func(old *unix.SchedAttr) bool) bool {
	done := make(chan bool)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		old, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			done <- false
			return
		}
		defer unix.SchedSetAttr(0, old, 0)
		done <- try(old)
	}()
	return <-done
}

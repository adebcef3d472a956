//go:build linux

package bus

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations, shared (never FUTEX_PRIVATE_FLAG): every word lives in
// memory that several processes map.
const (
	futexWait       = 0
	futexWake       = 1
	futexWaitBitset = 9
	futexBitsetAny  = 0xffffffff
)

// Wait sleeps while *addr == val, until woken. It returns at once when the
// word differs already, and may return spuriously: callers loop on their
// condition.
func Wait(addr *uint32, val uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait, uintptr(val), 0, 0, 0)
}

// WaitUntil is Wait with an absolute CLOCK_MONOTONIC deadline in
// nanoseconds (FUTEX_WAIT_BITSET takes an absolute time, so a wait that is
// interrupted and retried does not drift). It reports whether the deadline
// passed.
func WaitUntil(addr *uint32, val uint32, deadline int64) (timedOut bool) {
	ts := unix.NsecToTimespec(deadline)
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitBitset, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, futexBitsetAny)
	return e == unix.ETIMEDOUT
}

// Wake wakes up to n waiters on addr. It never blocks, so it is made as a
// raw system call.
func Wake(addr *uint32, n int) {
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, uintptr(n), 0, 0, 0)
}

// SleepUntil sleeps until the absolute CLOCK_MONOTONIC time deadline.
func SleepUntil(deadline int64) {
	ts := unix.NsecToTimespec(deadline)
	for {
		err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
		if err != unix.EINTR {
			return
		}
	}
}

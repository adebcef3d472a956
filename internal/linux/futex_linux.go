//go:build linux

package linux

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/mono"
)

// Futex operations. Shared, never FUTEX_PRIVATE_FLAG: the words live in
// memory that several processes map.
const (
	futexWait       = 0
	futexWake       = 1
	futexWaitBitset = 9
	futexBitsetAny  = 0xffffffff
	futex2SizeU32   = 0x02
)

// FutexWait sleeps while *addr == val, until woken, or until timeout
// passes when timeout > 0. It returns nil on a wake, when *addr != val
// already, or when a signal interrupted the sleep (callers loop on their
// condition), and the kernel's error otherwise: ETIMEDOUT, or a bad
// address.
func FutexWait(addr *uint32, val uint32, timeout time.Duration) error {
	var ts *unix.Timespec
	if timeout > 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait, uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.EINTR:
		return nil
	}
	return e
}

// FutexWaitWoken is FutexWait, reporting whether a FUTEX_WAKE ended the
// sleep (not a changed value, a signal or the timeout).
func FutexWaitWoken(addr *uint32, val uint32, timeout time.Duration) bool {
	t := unix.NsecToTimespec(int64(timeout))
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait, uintptr(val), uintptr(unsafe.Pointer(&t)), 0, 0)
	return e == 0
}

// FutexWaitUntil is FutexWait with an absolute CLOCK_MONOTONIC deadline in
// nanoseconds (FUTEX_WAIT_BITSET takes an absolute time, so a wait that is
// interrupted and retried does not drift). It reports whether the deadline
// passed.
func FutexWaitUntil(addr *uint32, val uint32, deadline int64) (timedOut bool) {
	ts := unix.NsecToTimespec(deadline)
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitBitset, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, futexBitsetAny)
	return e == unix.ETIMEDOUT
}

// FutexWake wakes up to n waiters on addr. It never blocks, so it is a raw
// system call.
func FutexWake(addr *uint32, n int) {
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, uintptr(n), 0, 0, 0)
}

// A Waitv is one word of FutexWaitv: the kernel's struct futex_waitv for a
// shared 32-bit futex.
type Waitv struct {
	val   uint64
	uaddr uint64
	flags uint32
	_     uint32
}

// WaitvOn returns the Waitv that sleeps while *addr == val.
func WaitvOn(addr *uint32, val uint32) Waitv {
	return Waitv{val: uint64(val), uaddr: uint64(uintptr(unsafe.Pointer(addr))), flags: futex2SizeU32}
}

// FutexWaitv sleeps until one of the words (at most 128) is woken, or
// returns at once when one no longer holds its value (futex_waitv, Linux
// 5.16+). It returns nil then, or when a signal interrupted the sleep, and
// the kernel's error otherwise: ENOSYS before 5.16.
func FutexWaitv(ws []Waitv) error {
	_, _, err := FutexWaitvUntil(ws, 0)
	return err
}

// FutexWaitvUntil is FutexWaitv with an absolute CLOCK_MONOTONIC deadline
// in nanoseconds (0: none). It also returns the index of the word that was
// woken, or -1 when none was (a word that no longer held its value, a
// signal, the deadline), and whether the deadline passed.
func FutexWaitvUntil(ws []Waitv, deadline int64) (woken int, timedOut bool, err error) {
	var ts *unix.Timespec
	if deadline > 0 {
		t := unix.NsecToTimespec(deadline)
		ts = &t
	}
	r, _, e := unix.Syscall6(unix.SYS_FUTEX_WAITV, uintptr(unsafe.Pointer(&ws[0])), uintptr(len(ws)), 0,
		uintptr(unsafe.Pointer(ts)), unix.CLOCK_MONOTONIC, 0)
	switch e {
	case 0:
		return int(r), false, nil
	case unix.EAGAIN, unix.EINTR:
		return -1, false, nil
	case unix.ETIMEDOUT:
		return -1, true, nil
	}
	return -1, false, e
}

// FutexWaitEither sleeps until either word is woken or no longer holds
// its value, or until deadline (CLOCK_MONOTONIC nanoseconds; 0: no
// limit), with futex_waitv where the kernel has it. Where it has not
// (ENOSYS, or EINVAL from a kernel that does not know the flags) it sleeps
// on a alone, then and on every later call: a wake of b is not heard until
// a is woken too or the deadline passes.
func FutexWaitEither(a *uint32, av uint32, b *uint32, bv uint32, deadline int64) {
	if !waitvMissing.Load() {
		ws := [2]Waitv{WaitvOn(a, av), WaitvOn(b, bv)}
		if _, _, err := FutexWaitvUntil(ws[:], deadline); err != unix.ENOSYS && err != unix.EINVAL {
			return
		}
		waitvMissing.Store(true)
	}
	var left time.Duration
	if deadline > 0 {
		if left = time.Duration(deadline - mono.Now()); left <= 0 {
			return
		}
	}
	FutexWait(a, av, left)
}

// waitvMissing is set once the kernel refused futex_waitv.
var waitvMissing atomic.Bool

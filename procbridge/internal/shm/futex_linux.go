//go:build linux

package shm

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations. Shared (not private): the words live in memory mapped by
// several processes.
const (
	futexWait = 0
	futexWake = 1
)

// Wait blocks while *addr == val, until woken, or until timeout passes when
// timeout > 0. It returns nil on a wake, or when *addr != val already.
func Wait(addr *uint32, val uint32, timeout time.Duration) error {
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
	return e // ETIMEDOUT, or a bad address
}

// Wake wakes up to n waiters on addr.
func Wake(addr *uint32, n int) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, uintptr(n), 0, 0, 0)
}

// A WaitWord is one word of WaitAny: the kernel's struct futex_waitv for a
// shared 32-bit futex.
type WaitWord struct {
	val   uint64
	uaddr uint64
	flags uint32
	_     uint32
}

// Waiting returns the WaitWord that sleeps while *addr == val.
func Waiting(addr *uint32, val uint32) WaitWord {
	const futex2SizeU32 = 0x02
	return WaitWord{val: uint64(val), uaddr: uint64(uintptr(unsafe.Pointer(addr))), flags: futex2SizeU32}
}

// WaitAny blocks until one of the words (at most 128) is woken, or at once
// when one no longer holds its value (futex_waitv, Linux 5.16+). It returns
// nil then, and the kernel's error otherwise: ENOSYS before 5.16.
func WaitAny(ws []WaitWord) error {
	_, _, e := unix.Syscall6(unix.SYS_FUTEX_WAITV, uintptr(unsafe.Pointer(&ws[0])), uintptr(len(ws)), 0, 0, 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.EINTR:
		return nil
	}
	return e
}

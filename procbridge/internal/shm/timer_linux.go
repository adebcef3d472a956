//go:build linux

package shm

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// SetTimer sets the timerfd fd to expire once at the monotonic time at
// (ns), or disarms it when at is 0. The call is raw: timerfd_settime never
// blocks, so the Go scheduler need not hear of it (the hang monitor keeps
// its P through a watch; a worker re-arms its watchdog from its loop).
func SetTimer(fd int, at int64) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(at)}
	unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(fd), unix.TFD_TIMER_ABSTIME, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
}

//go:build linux

package linux

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// NewTimer creates a timerfd on CLOCK_MONOTONIC, non-blocking and
// close-on-exec, disarmed.
func NewTimer() (int, error) {
	return unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
}

// SetTimer sets the timerfd fd to expire once at the monotonic time at
// (ns), or disarms it when at is 0. timerfd_settime never blocks, so the
// call is raw.
func SetTimer(fd int, at int64) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(at)}
	unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(fd), unix.TFD_TIMER_ABSTIME, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
}

// DrainTimer reads an expired timerfd's count, so that it no longer polls
// readable. The read is raw; on a timerfd that has not expired it fails at
// once (the timerfd is non-blocking). Only for a timerfd no other process
// holds: a read on a description another process made blocking blocks.
func DrainTimer(fd int) {
	var buf [8]byte
	readRaw(fd, buf[:], -1)
}

// TimerRemaining returns how long the timerfd fd has left before it
// expires (ns), 0 when it is disarmed (or cannot be read). timerfd_gettime
// never blocks, whatever the descriptor's flags, so the call is raw.
func TimerRemaining(fd int) int64 {
	var spec unix.ItimerSpec
	_, _, e := unix.RawSyscall(unix.SYS_TIMERFD_GETTIME, uintptr(fd), uintptr(unsafe.Pointer(&spec)), 0)
	if e != 0 {
		return 0
	}
	return spec.Value.Nano()
}

// SleepUntil sleeps until the absolute CLOCK_MONOTONIC time deadline (ns),
// through signals.
func SleepUntil(deadline int64) {
	ts := unix.NsecToTimespec(deadline)
	for {
		err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
		if err != unix.EINTR {
			return
		}
	}
}

//go:build linux

package linux

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// EpollWait waits until something in the epoll set ep is ready and
// appends the ready descriptors to fds. A raw wait keeps the caller's P
// throughout: the caller has set a timer in the set that ends the wait
// soon. Otherwise the wait is an ordinary system call that ends after
// idleMs milliseconds at the most. It retries after a signal.
func EpollWait(ep int, fds []int32, raw bool, idleMs int) ([]int32, error) {
	var evs [32]unix.EpollEvent
	for {
		var n int
		var err error
		if raw {
			n, err = epollWaitRaw(ep, evs[:])
		} else {
			n, err = unix.EpollWait(ep, evs[:], idleMs)
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fds, err
		}
		for _, e := range evs[:n] {
			fds = append(fds, e.Fd)
		}
		return fds, nil
	}
}

func epollWaitRaw(ep int, evs []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])),
		uintptr(len(evs)), ^uintptr(0), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

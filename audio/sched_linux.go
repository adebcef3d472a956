//go:build linux

package audio

import (
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setFIFO puts the calling thread in SCHED_FIFO at prio (1..99); prio 0
// puts it back in SCHED_OTHER.
func setFIFO(prio int) error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(prio)}
	if prio == 0 {
		attr.Policy = unix.SCHED_NORMAL
	}
	return unix.SchedSetAttr(0, &attr, 0)
}

func gettid() int { return unix.Gettid() }

// threadSched reads what the scheduler says of thread tid of process pid:
// its state letter (R running or runnable, S sleeping, T stopped, …) and
// the CPU time it has run, in ns. ok is false when the thread is gone. It
// allocates nothing: the driver calls it from its watchdog.
func threadSched(pid, tid int) (state byte, runNs int64, ok bool) {
	var path [64]byte
	var buf [512]byte
	p := append(path[:0], "/proc/"...)
	p = strconv.AppendInt(p, int64(pid), 10)
	p = append(p, "/task/"...)
	p = strconv.AppendInt(p, int64(tid), 10)
	base := len(p)

	p = append(append(p[:base], "/stat"...), 0)
	n := readFile(p, buf[:])
	if n <= 0 {
		return 0, 0, false
	}
	// "tid (comm) S …": the state follows the last ')'.
	for i := n - 1; i >= 0; i-- {
		if buf[i] == ')' {
			if i+2 < n {
				state = buf[i+2]
			}
			break
		}
	}
	p = append(append(p[:base], "/schedstat"...), 0)
	n = readFile(p, buf[:])
	if n <= 0 {
		return state, 0, state != 0
	}
	for _, c := range buf[:n] {
		if c < '0' || c > '9' {
			break
		}
		runNs = runNs*10 + int64(c-'0')
	}
	return state, runNs, state != 0
}

// readFile reads the NUL-terminated path into buf with raw system calls
// (the string-taking wrappers would allocate).
func readFile(path []byte, buf []byte) int {
	atFdcwd := unix.AT_FDCWD
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(atFdcwd), uintptr(unsafe.Pointer(&path[0])),
		uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	if e != 0 {
		return -1
	}
	n, _, e := unix.Syscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	unix.Syscall(unix.SYS_CLOSE, fd, 0, 0)
	if e != 0 {
		return -1
	}
	return int(n)
}

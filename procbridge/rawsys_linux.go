//go:build linux

package procbridge

import (
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw system calls for the hang monitor's watch.
//
// A system call made through the usual wrappers tells the Go scheduler
// that the goroutine may block. When the call lasts more than a few tens
// of microseconds and no processor (P) is idle, the runtime hands the
// goroutine's P to other work; on return, the goroutine, locked to its
// raised thread, waits until another thread hands it a P back. That thread
// is an ordinary one: it may itself wait for a CPU behind the very spinner
// being watched, for a scheduler slice (milliseconds).
//
// The watch of a suspect, from its watchdog's wake to the verdict at the
// deadline, makes dozens of calls that cannot block for long (opening and
// reading the suspect's /proc files and its counters, setting a timer) and
// waits a window or two in all. It makes them raw, keeping its P
// throughout; a program with more than one P lends it for at most
// rawWaitMax at a time, only while a worker is suspect.
//
// One hand-off is left that the monitor cannot avoid: the runtime's own
// monitor thread (sysmon) preempts a goroutine that resumed from a long
// sleep on a P whose time slice it deems 10 ms old, which is how an idle
// program's P looks. It comes within tens of microseconds of the wake, so
// the watch's lead (shm.WatchdogLead) absorbs it, save when the hand-off
// waits out a slice behind the spinner: the tail of BenchmarkHangDetection.

// rawWaitMax is the longest the monitor waits without giving its P back.
const rawWaitMax = int64(2_000_000)

// rawWaitOK reports whether the monitor may wait holding its P: only when
// the program has another P for its other goroutines.
func rawWaitOK() bool { return runtime.GOMAXPROCS(0) > 1 }

// rawOpen opens the NUL-terminated path.
func rawOpen(path []byte, flags int) (int, error) {
	cwd := unix.AT_FDCWD
	fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(cwd),
		uintptr(unsafe.Pointer(&path[0])), uintptr(flags|unix.O_CLOEXEC), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func rawClose(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// rawRead reads into b at offset off (pread), or at the file's position
// when off is negative.
func rawRead(fd int, b []byte, off int64) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n uintptr
	var e unix.Errno
	if off < 0 {
		n, _, e = unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	} else {
		n, _, e = unix.RawSyscall6(unix.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(off), 0, 0)
	}
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawGetdents(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_GETDENTS64, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawPerfEventOpen(attr *unix.PerfEventAttr, tid int) (int, error) {
	fd, _, e := unix.RawSyscall6(unix.SYS_PERF_EVENT_OPEN, uintptr(unsafe.Pointer(attr)),
		uintptr(tid), ^uintptr(0), ^uintptr(0), uintptr(unix.PERF_FLAG_FD_CLOEXEC), 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// rawEpollWait waits on the epoll set ep without giving up the P; the
// caller has set a timer in the set to end the wait within rawWaitMax.
func rawEpollWait(ep int, evs []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])),
		uintptr(len(evs)), ^uintptr(0), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawReadSmall reads the start of the file at the NUL-terminated path.
func rawReadSmall(path []byte, buf []byte) []byte {
	fd, err := rawOpen(path, unix.O_RDONLY)
	if err != nil {
		return nil
	}
	n, err := rawRead(fd, buf, -1)
	rawClose(fd)
	if err != nil || n <= 0 {
		return nil
	}
	return buf[:n]
}

// procPath appends /proc/PID[/task/TID][/leaf] and a NUL to b; tid 0
// leaves out the task.
func procPath(b []byte, pid, tid int, leaf string) []byte {
	b = append(b, "/proc/"...)
	b = strconv.AppendInt(b, int64(pid), 10)
	if tid != 0 {
		b = append(b, "/task/"...)
		b = strconv.AppendInt(b, int64(tid), 10)
	}
	if leaf != "" {
		b = append(b, '/')
		b = append(b, leaf...)
	}
	return append(b, 0)
}

//go:build linux

package linux

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The raw system calls the other files build on. None of them blocks for
// long: /proc files and counters answer at once.

// openRaw opens the NUL-terminated path, close-on-exec.
func openRaw(path []byte, flags int) (int, error) {
	cwd := unix.AT_FDCWD
	fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(cwd),
		uintptr(unsafe.Pointer(&path[0])), uintptr(flags|unix.O_CLOEXEC), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// closeRaw closes fd.
func closeRaw(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// readRaw reads into b at offset off (pread), or at the file's position
// when off is negative.
func readRaw(fd int, b []byte, off int64) (int, error) {
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

// getdentsRaw reads directory entries (struct linux_dirent64) into b.
func getdentsRaw(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_GETDENTS64, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

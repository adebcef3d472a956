//go:build linux

package linux

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// NewMemfd creates a memfd of size bytes, close-on-exec (a child gets it
// only as an explicitly inherited descriptor), named for /proc/PID/fd. A
// sealed one can never be resized, by this process or any that maps it:
// a shrink would turn a peer's next access into SIGBUS.
func NewMemfd(name string, size int, sealed bool) (int, error) {
	flags := unix.MFD_CLOEXEC
	if sealed {
		flags |= unix.MFD_ALLOW_SEALING
	}
	fd, err := unix.MemfdCreate(name, flags)
	if err != nil {
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	// Mode 0: only descriptions handed down reach it. A same-uid process
	// could otherwise open it through /proc/<pid>/fd of any process that
	// holds it, another child's supervisor or sibling included.
	if err := unix.Fchmod(fd, 0); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("fchmod: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("ftruncate %d: %w", size, err)
	}
	if sealed {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("seal: %w", err)
		}
	}
	return fd, nil
}

// Map maps size bytes of fd shared, read-write. Populated, it has its page
// tables filled in at once (MAP_POPULATE), so that no later access takes a
// page fault.
func Map(fd, size int, populate bool) ([]byte, error) {
	flags := unix.MAP_SHARED
	if populate {
		flags |= unix.MAP_POPULATE
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, flags)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", size, err)
	}
	return mem, nil
}

// Unmap unmaps a mapping made by Map.
func Unmap(mem []byte) error { return unix.Munmap(mem) }

//go:build linux

package bus

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// create makes a memfd of size bytes, mapped shared and populated.
func create(name string, size int) (*os.File, []byte, error) {
	fd, err := unix.MemfdCreate("understudy-audio-"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "understudy-audio-"+name)
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("ftruncate %d: %w", size, err)
	}
	mem, err := mapFile(f, size)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, mem, nil
}

// mapFile maps size bytes of f shared, read-write, with the page tables
// filled in at once (MAP_POPULATE), so that no cycle takes a page fault.
func mapFile(f *os.File, size int) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat bus: %w", err)
	}
	if st.Size() != int64(size) {
		return nil, fmt.Errorf("%w: bus file is %d bytes, the layout needs %d", ErrLayout, st.Size(), size)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap bus: %w", err)
	}
	return mem, nil
}

func unmap(mem []byte) error { return unix.Munmap(mem) }

// Supported reports whether this system has what the bus needs.
const Supported = true

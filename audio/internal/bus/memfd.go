package bus

import (
	"fmt"
	"os"

	"github.com/understudy/understudy/internal/linux"
)

// Supported reports whether this system has what the bus needs.
const Supported = linux.Supported

// create makes a memfd of size bytes, mapped shared and populated.
func create(name string, size int) (*os.File, []byte, error) {
	fd, err := linux.NewMemfd("understudy-audio-"+name, size, false)
	if err != nil {
		return nil, nil, err
	}
	f := os.NewFile(uintptr(fd), "understudy-audio-"+name)
	mem, err := mapFile(f, size)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, mem, nil
}

// mapFile maps size bytes of f shared, read-write, with the page tables
// filled in at once, so that no cycle takes a page fault.
func mapFile(f *os.File, size int) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat bus: %w", err)
	}
	if st.Size() != int64(size) {
		return nil, fmt.Errorf("%w: bus file is %d bytes, the layout needs %d", ErrLayout, st.Size(), size)
	}
	return linux.Map(int(f.Fd()), size, true)
}

func unmap(mem []byte) error { return linux.Unmap(mem) }

//go:build linux

package jack

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapRing maps the ring file at path, shared, read-only.
func mapRing(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
}

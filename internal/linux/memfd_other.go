//go:build !linux

package linux

import "fmt"

// NewMemfd needs Linux.
func NewMemfd(name string, size int, sealed bool) (int, error) {
	return -1, fmt.Errorf("memfd_create: %w", ErrNotSupported)
}

// Map needs Linux.
func Map(fd, size int, populate bool) ([]byte, error) {
	return nil, fmt.Errorf("mmap: %w", ErrNotSupported)
}

// Unmap does nothing.
func Unmap(mem []byte) error { return nil }

//go:build !linux

package shm

import (
	"fmt"

	"github.com/understudy/understudy/internal/linux"
)

// Create needs Linux.
func Create(name string, c Config) (*Segment, error) {
	return nil, fmt.Errorf("shm: %w", linux.ErrNotSupported)
}

// Open needs Linux.
func Open(fd int) (*Segment, AttachVerdict, error) {
	return nil, AttachBadSize, fmt.Errorf("shm: %w", linux.ErrNotSupported)
}

// CloseFd does nothing.
func (s *Segment) CloseFd() error { return nil }

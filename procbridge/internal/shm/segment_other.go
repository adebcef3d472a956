//go:build !linux

package shm

import (
	"errors"
	"time"
)

// ErrNotSupported: shared segments need Linux (memfd, futex).
var ErrNotSupported = errors.New("shm: not supported on this system")

// Create needs Linux.
func Create(name string, c Config) (*Segment, error) { return nil, ErrNotSupported }

// Open needs Linux.
func Open(fd int) (*Segment, AttachVerdict, error) { return nil, AttachBadSize, ErrNotSupported }

// CloseFd does nothing.
func (s *Segment) CloseFd() error { return nil }

// Wait needs Linux.
func Wait(addr *uint32, val uint32, timeout time.Duration) error { return ErrNotSupported }

// Wake does nothing.
func Wake(addr *uint32, n int) {}

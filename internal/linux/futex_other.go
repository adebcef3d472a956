//go:build !linux

package linux

import (
	"fmt"
	"time"
)

// FutexWait needs Linux.
func FutexWait(addr *uint32, val uint32, timeout time.Duration) error {
	return fmt.Errorf("futex: %w", ErrNotSupported)
}

// FutexWaitUntil needs Linux: it reports the deadline passed at once.
func FutexWaitUntil(addr *uint32, val uint32, deadline int64) (timedOut bool) { return true }

// FutexWake does nothing.
func FutexWake(addr *uint32, n int) {}

// A Waitv is one word of FutexWaitv.
type Waitv struct{}

// WaitvOn returns an empty Waitv.
func WaitvOn(addr *uint32, val uint32) Waitv { return Waitv{} }

// FutexWaitv needs Linux.
func FutexWaitv(ws []Waitv) error { return fmt.Errorf("futex_waitv: %w", ErrNotSupported) }

// FutexWaitEither returns at once.
func FutexWaitEither(a *uint32, av uint32, b *uint32, bv uint32, deadline int64) {}

// FutexWaitvUntil needs Linux.
func FutexWaitvUntil(ws []Waitv, deadline int64) (woken int, timedOut bool, err error) {
	return -1, false, fmt.Errorf("futex_waitv: %w", ErrNotSupported)
}

// FutexWaitWoken reports false at once.
func FutexWaitWoken(addr *uint32, val uint32, timeout time.Duration) bool { return false }

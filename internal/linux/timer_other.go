//go:build !linux

package linux

import "fmt"

// NewTimer needs Linux.
func NewTimer() (int, error) { return -1, fmt.Errorf("timerfd_create: %w", ErrNotSupported) }

// SetTimer does nothing.
func SetTimer(fd int, at int64) {}

// DrainTimer does nothing.
func DrainTimer(fd int) {}

// TimerRemaining returns 0.
func TimerRemaining(fd int) int64 { return 0 }

// SleepUntil returns at once.
func SleepUntil(deadline int64) {}

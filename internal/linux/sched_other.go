//go:build !linux

package linux

import "fmt"

// ResetOnFork is SCHED_FLAG_RESET_ON_FORK (Linux).
const ResetOnFork = 0x01

// SliceNs is the short slice asked for when the real-time class is refused
// (Linux).
const SliceNs = 100_000

// Raise raises nothing.
func Raise(nice int32) bool { return false }

// Raised is a thread raised by RaiseOwn: none here.
type Raised struct{}

// RaiseOwn raises nothing.
func RaiseOwn() Raised { return Raised{} }

// Tid is 0: no thread was raised.
func (Raised) Tid() int { return 0 }

// Foreign is false: no thread was looked at.
func (Raised) Foreign() bool { return false }

// Restore does nothing.
func (Raised) Restore() {}

// SetFIFO needs Linux.
func SetFIFO(prio int) error { return fmt.Errorf("sched_setattr: %w", ErrNotSupported) }

// Gettid returns 0.
func Gettid() int { return 0 }

// BoostOwn raises nothing.
func BoostOwn() (release func()) { return func() {} }

// BoostOwnNew raises nothing.
func BoostOwnNew() {}

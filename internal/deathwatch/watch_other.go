//go:build !linux

package deathwatch

import "time"

// MaxWatched is how many processes one Watch watches at once.
const MaxWatched = 0

// Watch is the loaded programs: never, off Linux.
type Watch struct{}

// Load returns an error wrapping ErrNotSupported.
func Load() (*Watch, error) { return nil, ErrNotSupported }

// Close does nothing.
func (w *Watch) Close() {}

// Add returns ErrNotSupported.
func (w *Watch) Add(tgid int, cookie uint64) error { return ErrNotSupported }

// Expect returns ErrNotSupported.
func (w *Watch) Expect(tid int, cookie uint64) error { return ErrNotSupported }

// Unexpect does nothing.
func (w *Watch) Unexpect(tid int) {}

// Remove does nothing.
func (w *Watch) Remove(tgid int) {}

// Session is never attached, off Linux.
type Session struct{}

// Attach returns an error wrapping ErrNotSupported.
func (w *Watch) Attach() (*Session, error) { return nil, ErrNotSupported }

// Read returns ErrNotSupported.
func (s *Session) Read(n *Notice) error { return ErrNotSupported }

// Drain returns ErrNotSupported.
func (s *Session) Drain(f func([]Notice)) error { return ErrNotSupported }

// Waiter is never made, off Linux.
type Waiter struct{}

// NewWaiter returns ErrNotSupported.
func (s *Session) NewWaiter(sliced bool) (*Waiter, error) { return nil, ErrNotSupported }

// Wait returns ErrNotSupported.
func (w *Waiter) Wait() error { return ErrNotSupported }

// Close does nothing.
func (w *Waiter) Close() {}

// SetSlice does nothing.
func (s *Session) SetSlice(d time.Duration) {}

// Slices returns 0.
func (s *Session) Slices() uint64 { return 0 }

// Close does nothing.
func (s *Session) Close() {}

// Available returns ErrNotSupported.
func Available() error { return ErrNotSupported }

// Package supervisiontest helps test code that runs supervision trees: a
// Clock whose time moves only when the test says so.
package supervisiontest

import (
	"context"
	"sync"
	"time"
)

// FakeClock is a supervision.Clock for tests whose time moves only when
// Advance is called. Unlike the system clock it calls timer functions
// synchronously, from Advance, so a test knows they have run when Advance
// returns. Create one with NewFakeClock; it is safe for concurrent use.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64 // orders timers that are due at the same time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced when timers changes
}

// NewFakeClock returns a FakeClock whose time is start. Prefer a non-zero
// start: supervision reads the zero Time as "never" (a child that was
// never up, for its backoff).
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start}
}

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f for d from now. f runs during the Advance call that
// reaches its time; a timer with d <= 0 is due at once and runs during the
// next Advance, even Advance(0). It returns a function that cancels the
// call, reporting false if the call has run already or was cancelled
// before.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{clock: c, when: c.now.Add(max(d, 0)), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return t.stop
}

// Advance moves the clock forward by d (a negative d counts as 0) and runs,
// in order of their times, the timers that fall due, each with Now set to
// its own time. Timers that these functions schedule run too if they fall
// due by the new time.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(max(d, 0))
	c.mu.Unlock()
	for {
		c.mu.Lock()
		t := c.popDueLocked(target)
		if t == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		c.now = t.when
		c.mu.Unlock()
		t.f()
	}
}

// WaitForTimers blocks until at least n timers are pending, so a test can
// wait for code running elsewhere to schedule its timers before calling
// Advance. It returns ctx.Err() if ctx ends first.
func (c *FakeClock) WaitForTimers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		if len(c.timers) >= n {
			c.mu.Unlock()
			return nil
		}
		changed := c.changedLocked()
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// popDueLocked removes and returns the earliest timer due by target, or
// returns nil if none is.
func (c *FakeClock) popDueLocked(target time.Time) *fakeTimer {
	best := -1
	for i, t := range c.timers {
		if t.when.After(target) {
			continue
		}
		if best < 0 || t.when.Before(c.timers[best].when) ||
			t.when.Equal(c.timers[best].when) && t.seq < c.timers[best].seq {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	t := c.timers[best]
	c.removeLocked(best)
	return t
}

func (c *FakeClock) removeLocked(i int) {
	c.timers = append(c.timers[:i], c.timers[i+1:]...)
	c.notifyLocked()
}

func (c *FakeClock) changedLocked() chan struct{} {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

func (c *FakeClock) notifyLocked() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

type fakeTimer struct {
	clock *FakeClock
	when  time.Time
	seq   uint64
	f     func()
}

func (t *fakeTimer) stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.timers {
		if p == t {
			c.removeLocked(i)
			return true
		}
	}
	return false
}

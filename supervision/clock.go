package supervision

import "time"

// Clock is where a supervisor gets the time and its timers from, so tests
// can control both: intensity windows, backoff delays and event times
// (supervisiontest.FakeClock). A nil Clock in Options is the system clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc arranges for f to be called once, d from now, and returns
	// a function that cancels the call: it reports false if the call has
	// already started or was cancelled before. f should return quickly:
	// send a message, do not do the work.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// systemClock is the Clock of the time package: Now is time.Now and
// AfterFunc is time.AfterFunc, which calls f on its own goroutine.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

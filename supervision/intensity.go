package supervision

import (
	"time"
)

// Defaults for the zero fields of Intensity; they are OTP's.
const (
	defaultMaxRestarts = 1
	defaultPeriod      = 5 * time.Second
)

// NoRestarts as Intensity.MaxRestarts allows no restarts at all: the first
// failure that would restart a child shuts the supervisor down instead.
const NoRestarts = -1

// Intensity limits how often a supervisor restarts children: at most
// MaxRestarts restarts within any Period. The count is for the whole
// supervisor, not per child, and one failure counts once however many
// children it restarts (OneForAll). A supervisor that would exceed it stops
// its children and itself, and its own supervisor decides what follows.
//
// The zero value is OTP's default: 1 restart in 5 seconds.
type Intensity struct {
	// MaxRestarts is the number of restarts allowed within Period.
	// 0 means the default, 1; use NoRestarts to allow none.
	MaxRestarts int
	// Period is the sliding window the restarts are counted in.
	// 0 means the default, 5 seconds.
	Period time.Duration
}

// limits returns the number of restarts allowed and the window, with the
// defaults applied.
func (in Intensity) limits() (maxRestarts int, period time.Duration) {
	maxRestarts, period = in.MaxRestarts, in.Period
	switch {
	case maxRestarts == 0:
		maxRestarts = defaultMaxRestarts
	case maxRestarts < 0:
		maxRestarts = 0
	}
	if period <= 0 {
		period = defaultPeriod
	}
	return maxRestarts, period
}

// intensityTracker counts a supervisor's restarts against its Intensity.
// It keeps at most MaxRestarts+1 timestamps, however many restarts it is
// told about. The zero value tracks the default Intensity. It is not safe
// for concurrent use; it belongs to one supervisor.
type intensityTracker struct {
	intensity Intensity
	restarts  []time.Time // oldest first; at most maxRestarts+1 of them
}

// add records a restart at now and reports whether the restarts within the
// last Period, this one included, now number more than MaxRestarts. As in
// OTP, the window includes its edge: a restart exactly Period before now
// still counts. Call add once per failure that restarts children, before
// waiting out any backoff; if it reports true, shut the supervisor down
// instead of restarting.
func (t *intensityTracker) add(now time.Time) (exceeded bool) {
	maxRestarts, period := t.intensity.limits()
	expired := 0
	for _, at := range t.restarts {
		if now.Sub(at) <= period {
			break
		}
		expired++
	}
	// Beyond maxRestarts+1 restarts in the window the answer stays the
	// same, so only the newest maxRestarts+1 are kept.
	if keep := len(t.restarts) - expired; keep > maxRestarts {
		expired += keep - maxRestarts
	}
	t.restarts = append(t.restarts[:0], t.restarts[expired:]...)
	t.restarts = append(t.restarts, now)
	return len(t.restarts) > maxRestarts
}

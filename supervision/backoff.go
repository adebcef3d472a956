package supervision

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Defaults for the zero fields of Backoff.
const (
	defaultInitial    = 100 * time.Millisecond
	defaultMax        = 10 * time.Second
	defaultMultiplier = 2
	defaultResetAfter = 10 * time.Second
)

// Backoff is a child's policy for how long to wait before restarting it.
// The first restart after a failure is immediate, as in OTP; if the child
// fails again, the next restart waits Initial, and each further consecutive
// failure multiplies the wait by Multiplier, up to Max. Once the child has
// stayed up for ResetAfter, its next failure counts as a first one again.
//
// Backoff only decides the delay; every restart still counts towards the
// supervisor's [Intensity], which ends a crash loop that backoff alone would
// only slow down.
//
// The zero value waits 0, 100ms, 200ms, 400ms, ... up to 10s, without
// jitter, and resets after 10s of uptime.
type Backoff struct {
	// Initial is the wait before the second consecutive restart.
	// 0 means 100ms. A negative Initial turns backoff off: every restart
	// is immediate, as in OTP.
	Initial time.Duration
	// Max caps the wait, jitter included. 0 means 10s.
	Max time.Duration
	// Multiplier is the factor between consecutive waits, at least 1.
	// 0 means 2.
	Multiplier float64
	// Jitter spreads each wait uniformly by up to this fraction either way:
	// with Jitter 0.2 a 1s wait becomes one between 0.8s and 1.2s. It is
	// between 0 and 1; 0 means no jitter.
	Jitter float64
	// ResetAfter is how long a child must stay up for its next failure to
	// count as a first one. 0 means 10s.
	ResetAfter time.Duration
}

// problem is one field out of range: its name, value and why.
type problem struct {
	field  string
	value  any
	reason string
}

func (b Backoff) problems() []problem {
	var ps []problem
	if b.Max < 0 {
		ps = append(ps, problem{"Max", b.Max, "must not be negative"})
	}
	if m := b.Multiplier; m != 0 && (math.IsNaN(m) || math.IsInf(m, 0) || m < 1) {
		ps = append(ps, problem{"Multiplier", m, "want a finite number >= 1, or 0 for the default"})
	}
	if j := b.Jitter; math.IsNaN(j) || j < 0 || j > 1 {
		ps = append(ps, problem{"Jitter", j, "want 0 to 1"})
	}
	if b.ResetAfter < 0 {
		ps = append(ps, problem{"ResetAfter", b.ResetAfter, "must not be negative"})
	}
	if b.Max == 0 && b.Initial > defaultMax {
		ps = append(ps, problem{"Initial", b.Initial, fmt.Sprintf("exceeds the default Backoff.Max, %v; set Max too", defaultMax)})
	} else if b.Max > 0 && b.Initial > b.Max {
		ps = append(ps, problem{"Initial", b.Initial, fmt.Sprintf("exceeds Backoff.Max = %v", b.Max)})
	}
	return ps
}

// withDefaults returns b with its zero fields replaced by their defaults.
func (b Backoff) withDefaults() Backoff {
	if b.Initial == 0 {
		b.Initial = defaultInitial
	}
	if b.Max == 0 {
		b.Max = defaultMax
	}
	if b.Multiplier == 0 {
		b.Multiplier = defaultMultiplier
	}
	if b.ResetAfter == 0 {
		b.ResetAfter = defaultResetAfter
	}
	return b
}

// backoffState is one child's progress through its Backoff policy. The
// zero value follows the default policy. It is not safe for concurrent
// use; it belongs to the supervisor of its child.
type backoffState struct {
	policy Backoff
	failed bool          // a failure was seen since the last reset
	wait   time.Duration // unjittered wait given for the last failure
}

// next records a failure of the child at now and returns how long to wait
// before restarting it. upSince is when the child last started running; the
// zero Time means it never did (its start failed), so its uptime cannot
// reset the backoff.
//
// rnd returns a number in [0, 1), as math/rand/v2.Float64 does, and is
// called only when the wait is jittered; nil means math/rand/v2.Float64.
// Results outside [0, 1] are clamped, so the wait stays within its bounds.
func (s *backoffState) next(now, upSince time.Time, rnd func() float64) time.Duration {
	b := s.policy.withDefaults()
	if b.Initial < 0 {
		return 0
	}
	if !upSince.IsZero() && now.Sub(upSince) >= b.ResetAfter {
		s.reset()
	}
	switch {
	case !s.failed:
		s.failed = true
		return 0
	case s.wait == 0:
		s.wait = min(b.Initial, b.Max)
	default:
		s.wait = grow(s.wait, b.Multiplier, b.Max)
	}
	return jitter(s.wait, b.Jitter, b.Max, rnd)
}

// reset forgets the child's past failures, so its next restart is
// immediate.
func (s *backoffState) reset() {
	s.failed = false
	s.wait = 0
}

// grow returns d multiplied by m, capped at limit, without overflowing.
func grow(d time.Duration, m float64, limit time.Duration) time.Duration {
	f := float64(d) * m
	if f >= float64(limit) {
		return limit
	}
	return time.Duration(f)
}

// jitter spreads d uniformly by up to the fraction j either way, using
// rnd, and caps the result at limit.
func jitter(d time.Duration, j float64, limit time.Duration, rnd func() float64) time.Duration {
	if j == 0 || d == 0 {
		return d
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	r := rnd()
	switch {
	case !(r >= 0): // also catches NaN
		r = 0
	case r > 1:
		r = 1
	}
	f := float64(d) * (1 + j*(2*r-1))
	switch {
	case f >= float64(limit):
		return limit
	case f <= 0:
		return 0
	}
	return time.Duration(f)
}

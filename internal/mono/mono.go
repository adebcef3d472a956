// Package mono is the clock every layer stamps events with: CLOCK_MONOTONIC
// in nanoseconds, read through the vDSO, the same clock in every process on
// the machine, so a time taken in a worker and one taken in its supervisor
// can be subtracted. Public APIs show these instants as time.Time values
// made by Time; Of turns such a value back into nanoseconds, exactly.
package mono

import (
	"time"
	_ "unsafe" // for go:linkname
)

// Now returns CLOCK_MONOTONIC in nanoseconds (the clock the Go runtime
// uses for its own monotonic readings).
//
//go:linkname Now runtime.nanotime
func Now() int64

// The pair every conversion goes through, read once, together: the
// conversions are exact whatever the pair, and it agrees with time.Now
// to within the gap between its two readings, which basePair keeps small.
var baseTime, baseMono = basePair()

// basePair reads time.Now between two readings of Now, a few times, and
// keeps the reading taken in the shortest gap, stamped with its midpoint.
func basePair() (time.Time, int64) {
	var bestTime time.Time
	var bestMono, bestGap int64 = 0, -1
	for range 16 {
		before := Now()
		t := time.Now()
		after := Now()
		if gap := after - before; bestGap < 0 || gap < bestGap {
			bestTime, bestMono, bestGap = t, before+gap/2, gap
		}
	}
	return bestTime, bestMono
}

// Time returns the instant ns (CLOCK_MONOTONIC nanoseconds) as a time.Time.
// Its monotonic reading is exact: Time(a).Sub(Time(b)) is a−b, and Of gives
// ns back. Its wall-clock reading is the wall clock at the program's start
// plus the monotonic time since, so it drifts from the wall clock only by
// the adjustments made to that clock since the program started.
func Time(ns int64) time.Time { return baseTime.Add(time.Duration(ns - baseMono)) }

// Of returns t as CLOCK_MONOTONIC nanoseconds. It is exact for a time.Time
// with a monotonic reading (time.Now, Time, and values derived from them
// by Add), and 0 for the zero time.
func Of(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return baseMono + int64(t.Sub(baseTime))
}

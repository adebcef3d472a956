//go:build linux

package procbridge

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/internal/deathwatch"
	"github.com/understudy/understudy/internal/mono"
)

// The death-notice waiters kept warm while a notice's latency matters.
//
// On a virtual machine whose idle processes go cold (paravirtualised
// memory), a thread woken after its whole process has slept for a good
// part of a second returns to user mode late: hundreds of microseconds,
// more while a large process tears itself down beside it, with no system
// call, fault or switch to show for it. The death-notice waiters (the
// robust-futex batches, the eBPF watch's reader) sleep until a death, so
// they pay it exactly when it counts. One that has woken within the last
// 100 ms does not.
//
// So while something holds warm, each waiter waits in slices of warmSlice
// rather than in one long call: it returns to user mode and goes back to
// sleep every warmSlice, and the path a notice takes stays warm. Holders
// are the hot-standby groups, for their whole life (their failover rides
// on Dying), and, with deathwatch.EnvOff set to "prompt", the eBPF watch
// while it watches anything, so that every process's Dying is prompt.
// With nothing held the waiters sleep until they are woken: no wake-up
// at all, the idle supervisor's zero.
var warm warmth

// warmSlice bounds each wait of a death-notice waiter while warm is held:
// a wake every 100 ms kept a waiter as prompt as one every 8 ms did, at a
// twelfth of the cost (docs/performance.md, Processes).
const warmSlice = 100 * time.Millisecond

// testSlice, set by tests, replaces warmSlice when it is not 0.
var testSlice atomic.Int64

// sliceLen is warmSlice, or the tests' own.
func sliceLen() time.Duration {
	if d := testSlice.Load(); d > 0 {
		return time.Duration(d)
	}
	return warmSlice
}

type warmth struct {
	mu    sync.Mutex // orders holds and releases
	holds atomic.Int32

	// slices counts the waits that ended at their slice's end: the cost
	// of the warmth, in wake-ups (the eBPF reader counts its own).
	slices atomic.Uint64

	// tick, set by benchmarks, keeps warm with one goroutine that wakes
	// every warmSlice instead of slicing the waiters' waits.
	tick     atomic.Bool
	stopTick chan struct{}
	tickDone chan struct{}
}

// hold keeps the waiters warm until release is called; release may be
// called more than once.
func (w *warmth) hold() (release func()) {
	w.mu.Lock()
	if w.holds.Add(1) == 1 {
		w.start()
	}
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			if w.holds.Add(-1) == 0 {
				w.end()
			}
			w.mu.Unlock()
		})
	}
}

// deadline returns the end of a waiter's next slice, as a CLOCK_MONOTONIC
// time, or 0 when it may sleep until it is woken.
func (w *warmth) deadline() int64 {
	if w.holds.Load() == 0 || w.tick.Load() {
		return 0
	}
	return mono.Now() + int64(sliceLen())
}

// slice returns the bound of a waiter's waits: warmSlice while warm is
// held by slices, else 0.
func (w *warmth) slice() time.Duration {
	if w.holds.Load() == 0 || w.tick.Load() {
		return 0
	}
	return sliceLen()
}

// start begins the warmth: the waiters asleep without a bound are made to
// look again, and so to slice their waits; or the tick starts.
func (w *warmth) start() {
	if w.tick.Load() {
		w.stopTick, w.tickDone = make(chan struct{}), make(chan struct{})
		go w.ticking(w.stopTick, w.tickDone)
		return
	}
	dyingWaiters.pokeAll()
	kernelWatch.setSlice(sliceLen())
}

// end ends the warmth: a slice in progress runs out, and the waiters sleep
// unbounded after it.
func (w *warmth) end() {
	if w.stopTick != nil {
		close(w.stopTick)
		<-w.tickDone
		w.stopTick, w.tickDone = nil, nil
		return
	}
	kernelWatch.setSlice(0)
}

// ticking wakes every warmSlice until stop is closed.
func (w *warmth) ticking(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(sliceLen())
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.slices.Add(1)
		case <-stop:
			return
		}
	}
}

// promptHold is the hold of the eBPF watch while it watches anything, with
// deathwatch.EnvOff set to "prompt" (nil without).
func promptHold() (release func()) {
	if !deathwatch.Prompt() {
		return nil
	}
	return warm.hold()
}

// holdWarm keeps the death-notice waiters warm until release is called.
func holdWarm() (release func()) { return warm.hold() }

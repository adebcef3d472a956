package audio

import (
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/audio/internal/bus"
)

// The words of the bus the driver reads are claims: every node process
// maps the whole bus read-write, so any of them may have written any word.
// Each reader here takes one claim against the driver's own record (the
// lanes that served, the cycle under way, when it began, when the driver
// saw it end) and returns a value inside what that record allows, whatever
// the word holds. They are the only readers of those words, so that one
// fuzz target (FuzzDriverClaims) covers them all.

// doneLane returns the lane of node n in which block C is published: one
// of the served lanes (a bit per lane) whose Done word is exactly C, or -1
// and false. Lanes past the bus's are never read.
func doneLane(n bus.Node, served uint32, C uint64) (int, bool) {
	for l := range min(n.Lanes(), 32) {
		if served&(1<<l) != 0 && atomic.LoadUint64(n.Lane(l).Done()) == C {
			return l, true
		}
	}
	return -1, false
}

// wakeClaim returns the wake time w a host's record claims, as the driver
// takes it for a block that began at start: a time before the block
// began, or one still to come (past now and the clock's reading), is
// taken as the block's start, so that no node can put its own watchdog
// off. The result lies in [start, max(now, clock)].
func wakeClaim(w, start, now, clock int64) int64 {
	if w < start || w > now && w > clock {
		return start
	}
	return w
}

// blockTimes returns when the lane record r says it began computing its
// block and published it, as the driver takes them for a cycle that began
// at start and that it saw complete at end: the finish within [start,
// end] (a block is published neither before its cycle began nor after the
// driver saw it), and the start, with ok false when it is not this
// block's (a lane's stale stamp from before the cycle, or one after the
// finish).
func blockTimes(r bus.LaneRecord, start, end int64) (began, fin int64, ok bool) {
	fin = max(min(atomic.LoadInt64(r.FinishAt()), end), start)
	began = atomic.LoadInt64(r.StartAt())
	return began, fin, began >= start && began <= fin
}

// claimedAt returns a moment a node process recorded (a promotion, a
// finish, a fault struck) as the driver reports it, when it looks at end:
// 0 (not recorded) for a value at or below 0, and no later than end.
func claimedAt(v, end int64) int64 {
	if v <= 0 {
		return 0
	}
	return min(v, end)
}

// adoptedCycle returns the first block a primary restarted cold computed
// itself, by its record's Adopted word (the cycle of the state it began
// from), once it has published block C: Adopted + 1, and C when the word
// claims a state from C or later, which it cannot have.
func adoptedCycle(hl bus.HostLane, C uint64) uint64 {
	if a := atomic.LoadUint64(hl.Adopted()); a < C {
		return a + 1
	}
	return C
}

// recoveryOf returns how a promoted process says it recovered: one of
// recoveredCompute, recoveredReuse, and recoveredBefore for any other
// value of its Recovered word.
func recoveryOf(hl bus.HostLane) string {
	switch atomic.LoadUint32(hl.Recovered()) {
	case bus.RecoveredCompute:
		return recoveredCompute
	case bus.RecoveredReuse:
		return recoveredReuse
	}
	return recoveredBefore
}

// lateFinish reports whether lane record r says it published its block,
// of a cycle that began at start, after deadline, as the driver takes it
// when it looks at now.
func lateFinish(r bus.LaneRecord, start, now, deadline int64) bool {
	_, fin, _ := blockTimes(r, start, now)
	return fin > deadline
}

// wakeGate is the driver's budget of early wakes on its futex word in one
// cycle. The word is any node's to write and to wake: one that kept doing
// so would have the driver, the engine's highest thread, spin. Each
// terminal node adds to the word once a cycle, and the last of them wakes
// the driver; past budget early wakes (wakeBudget), the driver no longer
// sleeps on the word and looks a nap at a time (napFor).
type wakeGate struct {
	early, budget int
	stormed       bool
}

// next reports whether the driver may sleep on its word for its next look
// (futex), and, when it may not, whether the budget was spent just now
// (storm: once a cycle).
func (g *wakeGate) next() (futex, storm bool) {
	if g.early < g.budget {
		return true, false
	}
	storm = !g.stormed
	g.stormed = true
	return false, storm
}

// woken counts a sleep on the word that ended before its timeout.
func (g *wakeGate) woken() { g.early++ }

// napFor is how long the driver sleeps between looks once a cycle's early
// wakes passed their budget: an eighth of a period, at most a watchdog
// window, at least 50 µs.
func napFor(window, period int64) int64 {
	return max(min(window, period/8), int64(50*time.Microsecond))
}

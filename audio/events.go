package audio

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/internal/hang"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
)

// Event is one of Failover, Late, NodeDown and Restarted: what an [Engine]
// tells as it runs ([Engine.Events]), a closed set. Each prints as one
// line. The engine's supervision tree tells more, in its own terms
// ([Engine.Tree]): spares ready or lost, among others.
type Event interface {
	String() string
	isEvent()
}

// What a promoted spare found (Failover.Recovery).
const (
	recoveredBefore  = "before the first block"
	recoveredCompute = "recomputed"
	recoveredReuse   = "reused committed"
)

// Failover: a node's spare took over from its primary. One record is made
// per takeover the driver sees at a block's end; if a node's primary was
// replaced more than once before the latest one published a block,
// Promotions says how many times. Nodes that share a process fail over
// together, in one record: Process names it, and Node is the node an
// injected fault struck, or else the process's first node (each node of
// it counts the failover in its NodeReport).
type Failover struct {
	Node       string
	Process    string // the Node.Process shared, empty for a node alone
	Cycle      uint64 // the block the new primary published first
	Promotions int    // promotions since the node's previous record, usually 1
	// Watchdog: the primary had not finished its block within the
	// watchdog; the driver fenced it, woke the spare and killed it.
	// Otherwise the primary died, and the kernel's death notice (a robust
	// futex) woke the spare, which promoted itself.
	Watchdog bool
	// Verdict, with Watchdog, is how the primary looked when the driver
	// fenced it: "spinning" (it ran through its watch, or it was runnable
	// in SCHED_FIFO at its priority, which nothing of normal priority
	// keeps off a CPU), "asleep" (no thread runnable nor in the kernel),
	// or "held up" (kept from running past the cap of silence).
	Verdict string
	Fault   string // the kind of the injected fault behind it; empty if none was
	// Recovery is what the promoted spare found: "recomputed" (the block
	// asked for was not committed; it computed it again from the last
	// committed state), "reused committed" (the block was committed,
	// whether or not the primary lived to publish it: the spare published
	// it again from the old primary's output buffers, without computing
	// it) or "before the first block".
	Recovery string
	FromLane int
	ToLane   int
	// Struck is when the injected fault struck (zero when none was),
	// Detected when the failover began (the spare woke, or the driver
	// fenced the primary), Recovered when the new primary published its
	// first block.
	Struck, Detected, Recovered time.Time
	// Detect is Detected − Struck, or from the node's wake for the block
	// when no fault was injected; Switch is Recovered − Detected.
	Detect, Switch time.Duration
}

// Late: a node finished a block after the block's deadline (real time) by
// By; or, Missing, a block was not ready at its deadline, and the sink
// recorded silence in its place (Node is one of the nodes not finished).
type Late struct {
	Node    string
	Cycle   uint64
	By      time.Duration
	Missing bool
	// Cause says why a block went missing: "node late" (the node did not
	// finish in time), "node fenced" (its process was fenced in that
	// cycle and its spare did not finish in time), or "machine stall"
	// (the driver itself, the highest thread, was not run for the block's
	// slack, or the cycle was still catching up with such a stall: no
	// node could have made it).
	Cause string
}

// The causes of a missing block, in Late.Cause.
const (
	causeLate   = "node late"
	causeFenced = "node fenced"
	causeStall  = "machine stall"
)

// verdictNames names the watchdog's verdicts, in Failover.Verdict.
var verdictNames = map[hang.Kind]string{hang.Asleep: "asleep", hang.Spinning: "spinning", hang.HeldUp: "held up"}

// NodeDown: a node process's primary ended with no spare ready to take
// over; Err wraps ErrNodeDown. The engine's supervisor restarts it cold
// (a Restarted follows, once the new process has published a block)
// unless that exceeds its intensity: then another NodeDown, Final, says
// it gave up, and Run fails. For nodes that share a process, Node is its
// first node and Process its name: every node of it is down.
type NodeDown struct {
	Node    string
	Process string
	Err     error
	// Final: the supervisor gave up; every node process is stopped.
	Final bool
}

// Restarted: a node process lost with no spare ready (NodeDown) was
// restarted cold by the engine's supervisor: a new primary and new spares
// over a new segment, their nodes' state starting from zero (a delay line
// silent, a counter from 0), so the output is not what a fault-free run
// would give; the blocks missed meanwhile are reported as such (real
// time). It is recorded at the end of a block the new primary published,
// once the engine has taken up its group. For nodes that share a process,
// Node is the node an injected fault struck, or else its first node, and
// Process its name.
type Restarted struct {
	Node    string
	Process string
	// Cycle is the first block the new primary computed (or, when the
	// lost one had published all of the block it was at, the block
	// after).
	Cycle uint64
	// Incarnation is the node process's, as the supervision tree counts
	// (ChildInfo.Incarnation): 2 after the first restart.
	Incarnation int
	// Exit is how the lost primary ended; Fault the kind of the injected
	// fault behind it, empty if none was.
	Exit  procbridge.Exit
	Fault string
	// Down is when the lost primary's end was seen, Recovered when the new
	// primary began to serve blocks, Outage the time between.
	Down, Recovered time.Time
	Outage          time.Duration
}

func (Failover) isEvent()  {}
func (Late) isEvent()      {}
func (NodeDown) isEvent()  {}
func (Restarted) isEvent() {}

// String returns "amp: failover at block 412 (died, injected kill, recomputed),
// lane 0 → 1, detect 92µs, switch 140µs".
func (f Failover) String() string {
	who := nodeLabel(f.Node, f.Process)
	cause := "died"
	if f.Watchdog {
		cause = "watchdog"
		if f.Verdict != "" {
			cause += ": " + f.Verdict
		}
	}
	s := fmt.Sprintf("%s: failover at block %d (%s", who, f.Cycle, cause)
	if f.Fault != "" {
		s += ", injected " + f.Fault
	}
	return s + fmt.Sprintf(", %s), lane %d → %d, detect %v, switch %v", f.Recovery, f.FromLane, f.ToLane, f.Detect, f.Switch)
}

// String returns "amp: block 412 late by 1.2ms", or "amp: block 412
// missing (machine stall)".
func (l Late) String() string {
	if l.Missing && l.Cause != "" {
		return fmt.Sprintf("%s: block %d missing (%s)", l.Node, l.Cycle, l.Cause)
	}
	if l.Missing {
		return fmt.Sprintf("%s: block %d missing", l.Node, l.Cycle)
	}
	return fmt.Sprintf("%s: block %d late by %v", l.Node, l.Cycle, l.By)
}

// String returns "amp: down: ...", or "amp: down for good: ..." once the
// supervisor gave up.
func (d NodeDown) String() string {
	who := nodeLabel(d.Node, d.Process)
	what := "down"
	if d.Final {
		what = "down for good"
	}
	if d.Err == nil {
		return who + ": " + what
	}
	return fmt.Sprintf("%s: %s: %v", who, what, d.Err)
}

// String returns "amp: restarted cold from block 500 (incarnation 2, after
// killed by SIGKILL), out for 120ms".
func (r Restarted) String() string {
	who := nodeLabel(r.Node, r.Process)
	s := fmt.Sprintf("%s: restarted cold from block %d (incarnation %d, after %v", who, r.Cycle, r.Incarnation, r.Exit)
	if r.Fault != "" {
		s += ", injected " + r.Fault
	}
	return s + fmt.Sprintf("), out for %v", r.Outage)
}

// at returns the instant ns (CLOCK_MONOTONIC) as a time.Time, and the zero
// time for 0 (not recorded).
func at(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return mono.Time(ns)
}

// evRec is an event as the driver records it: plain data in a ring, so
// that the driver's thread never allocates; the forwarder goroutine turns
// records into Events.
type evRec struct {
	kind  uint8
	node  int
	cycle uint64
	by    int64
	cause string    // for evMissing
	fo    Failover  // for evFailover
	rs    Restarted // for evRestarted
}

const (
	evFailover = iota + 1
	evLate
	evMissing
	evRestarted
)

// eventRing is a single-producer (the driver), single-consumer (the
// forwarder) ring of records.
type eventRing struct {
	recs       [1024]evRec
	head, tail atomic.Uint64
	dropped    atomic.Uint64
}

func (r *eventRing) put(rec evRec) {
	h := r.head.Load()
	if h-r.tail.Load() >= uint64(len(r.recs)) {
		r.dropped.Add(1)
		return
	}
	r.recs[h%uint64(len(r.recs))] = rec
	r.head.Store(h + 1)
}

func (r *eventRing) drain(f func(evRec)) {
	for t := r.tail.Load(); t < r.head.Load(); t++ {
		f(r.recs[t%uint64(len(r.recs))])
		r.tail.Store(t + 1)
	}
}

// nodeLabel names a node in an event's line, with the process it shares
// when it shares one: "amp (process light)".
func nodeLabel(node, process string) string {
	if process == "" {
		return node
	}
	return fmt.Sprintf("%s (process %s)", node, process)
}

package audio

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/procbridge"
)

// Event is one of Failover, Late, Missing, SpareReady, SpareFailed,
// NodeDown and Restarted: what an [Engine] tells as it runs
// ([Engine.Events]). The engine's supervision tree tells more, in its own
// terms ([Engine.Tree]).
type Event interface{ isEvent() }

// FailoverCause says what gave a node's primary away.
type FailoverCause int

// Failover causes.
const (
	// CauseDied: the primary died; the kernel's death notice (a robust
	// futex) woke the spare, which promoted itself.
	CauseDied FailoverCause = iota
	// CauseWatchdog: the primary had not finished its block within the
	// watchdog; the driver fenced it, woke the spare and killed it.
	CauseWatchdog
)

func (c FailoverCause) String() string {
	switch c {
	case CauseDied:
		return "died"
	case CauseWatchdog:
		return "watchdog"
	}
	return fmt.Sprintf("FailoverCause(%d)", int(c))
}

// Recovery says what a promoted spare found.
type Recovery int

// Recoveries.
const (
	// RecoveryBetween: promoted before the first block.
	RecoveryBetween Recovery = iota
	// RecoveryRecompute: the block asked for was not committed; the spare
	// computed it again from the last committed state.
	RecoveryRecompute
	// RecoveryReuse: the block asked for was committed (whether or not
	// the primary lived to publish it, or to finish the cycle): the spare
	// published the committed block again, from the old primary's output
	// buffers, without computing it.
	RecoveryReuse
)

func (r Recovery) String() string {
	switch r {
	case RecoveryBetween:
		return "before the first block"
	case RecoveryRecompute:
		return "recomputed"
	case RecoveryReuse:
		return "reused committed"
	}
	return fmt.Sprintf("Recovery(%d)", int(r))
}

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
	Cause      FailoverCause
	Fault      FaultKind // the injected fault behind it; FaultNone if none was
	Recovery   Recovery
	FromLane   int
	ToLane     int
	// FaultMono is when the injected fault struck (0 when none was),
	// DetectMono when the failover began (the spare woke, or the driver
	// fenced the primary), RecoveredMono when the new primary published
	// its first block: CLOCK_MONOTONIC nanoseconds.
	FaultMono, DetectMono, RecoveredMono int64
	// Detect is DetectMono − FaultMono, or from the node's wake for the
	// block when no fault was injected; Switch is RecoveredMono −
	// DetectMono.
	Detect, Switch time.Duration
}

// Late: a node finished a block after the block's deadline (real time).
type Late struct {
	Node  string
	Cycle uint64
	By    time.Duration
}

// Missing: a block was not ready at its deadline (real time): the sink
// recorded silence in its place. Node is one of the nodes not finished.
type Missing struct {
	Cycle uint64
	Node  string
}

// SpareReady: a replacement spare is warm and parked. For nodes that
// share a process, Node is its first node and Process its name.
type SpareReady struct {
	Node      string
	Process   string
	Pid, Lane int
}

// SpareFailed: a replacement spare could not be started; the group tries
// again after Retry (backing off while it keeps failing), and the node
// runs on meanwhile with one spare less, failing over to the others or
// restarting cold. For nodes that share a process, Node is its first node
// and Process its name.
type SpareFailed struct {
	Node    string
	Process string
	Err     error
	Retry   time.Duration
}

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
	// Exit is how the lost primary ended; Fault the injected fault behind
	// it, FaultNone if none was.
	Exit  procbridge.Exit
	Fault FaultKind
	// DownMono is when the lost primary's end was seen, RecoveredMono
	// when the new primary began to serve blocks (CLOCK_MONOTONIC ns),
	// Outage the time between.
	DownMono, RecoveredMono int64
	Outage                  time.Duration
}

func (Failover) isEvent()    {}
func (Late) isEvent()        {}
func (Missing) isEvent()     {}
func (SpareReady) isEvent()  {}
func (SpareFailed) isEvent() {}
func (NodeDown) isEvent()    {}
func (Restarted) isEvent()   {}

func (f Failover) String() string {
	who := f.Node
	if f.Process != "" {
		who = fmt.Sprintf("%s (process %s)", f.Node, f.Process)
	}
	s := fmt.Sprintf("%s: failover at block %d (%s", who, f.Cycle, f.Cause)
	if f.Fault != FaultNone {
		s += ", " + f.Fault.String()
	}
	return s + fmt.Sprintf(", %s), lane %d → %d, detect %v, switch %v", f.Recovery, f.FromLane, f.ToLane, f.Detect, f.Switch)
}

func (r Restarted) String() string {
	who := r.Node
	if r.Process != "" {
		who = fmt.Sprintf("%s (process %s)", r.Node, r.Process)
	}
	s := fmt.Sprintf("%s: restarted cold from block %d (incarnation %d, after %v", who, r.Cycle, r.Incarnation, r.Exit)
	if r.Fault != FaultNone {
		s += ", " + r.Fault.String()
	}
	return s + fmt.Sprintf("), out for %v", r.Outage)
}

// evRec is an event as the driver records it: plain data in a ring, so
// that the driver's thread never allocates; the forwarder goroutine turns
// records into Events.
type evRec struct {
	kind  uint8
	node  int
	cycle uint64
	by    int64
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

package audio

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/understudy/understudy/audio/internal/bus"
)

// Report is what an [Engine] accounted over every cycle it ran.
type Report struct {
	RealTime  bool // Config.RealTime
	Rate      int
	BlockSize int
	Slack     int // blocks
	Period    time.Duration
	Watchdog  time.Duration
	Cycles    uint64
	// Late counts cycles in which some node finished past the block's
	// deadline; Missing counts blocks the sink recorded silence for,
	// because the block was not complete at its deadline. Both are 0
	// offline, where there are no deadlines.
	Late, Missing uint64
	// Xruns counts the xruns Config.Clock's sound server reported while
	// the engine was attached to it (over-, underruns of any of its
	// clients): beside Late and Missing, whether the server, not only the
	// engine, kept time. Zero without a Clock.
	Xruns uint64
	// MissingStall counts the missing blocks a machine stall accounts for
	// (Late.Cause "machine stall"): the driver, the highest thread of the
	// engine, was not run for the block's slack, or the cycle was still
	// catching up with such a stall. Stalls counts the times the driver
	// woke more than a watchdog window late, and StallMax the longest.
	// A node's watch is moved by a stall before the node is judged, so
	// that no node is fenced for time it could not run.
	MissingStall uint64
	Stalls       int
	StallMax     time.Duration
	Nodes        []NodeReport
	Failovers    []Failover
	// MoreFailovers counts failovers past the 4096 kept in Failovers.
	MoreFailovers int
	// Restarts are the node processes the engine's supervisor restarted
	// cold, lost with no spare ready (their state started again from
	// zero); MoreRestarts counts those past the 256 kept.
	Restarts     []Restarted
	MoreRestarts int
	// FaultsStruck counts injected faults that went off; FaultsPostponed
	// those armed later than planned (real time: no spare was ready yet,
	// or another fault was armed fewer than Slack+2 blocks before).
	FaultsStruck, FaultsPostponed int
	// CycleP50, CycleP99 and CycleMax are the time from a cycle's start to
	// its last node's publication.
	CycleP50, CycleP99, CycleMax time.Duration
	// SinkDropped counts blocks the WAV writer had no room for (real
	// time); DroppedEvents, events the Events reader was too slow for.
	SinkDropped, DroppedEvents uint64
	Wall                       time.Duration // time spent in Run
	// Priority is Config.Priority; PriorityDenied says the driver or a
	// node asked for it and was refused (they ran in normal scheduling).
	Priority       int
	PriorityDenied bool
	// ThreadsRaised says every thread of every node process, not only its
	// loop, runs in SCHED_FIFO (at level 1), so that the Go scheduler's
	// hand-offs to a loop are not held up by the machine's other work;
	// MemoryLocked, that every node process locked its memory (mlockall:
	// CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK). Both only with
	// Priority.
	ThreadsRaised, MemoryLocked bool
	// Machine is what Start found out about the machine before the first
	// cycle, as Engine.Preflight returns it: empty offline.
	Machine string
	// GlitchFree: no block was late or missing, none was dropped by the
	// WAV writer, and no node process was restarted cold (which loses its
	// nodes' state). Whether the output is also bit-identical is
	// [Compare]'s to say.
	GlitchFree bool
}

// NodeReport is one node's share of a [Report].
type NodeReport struct {
	Name, Kind string
	Cycles     uint64
	// Late counts blocks the node finished past their deadline; Missing,
	// blocks it had not finished when the deadline came (real time), of
	// which MissingFenced in a cycle its process was fenced in, and
	// MissingStall a machine stall accounts for (see Report.MissingStall):
	// the rest, the node was late of its own.
	Late, Missing               uint64
	MissingFenced, MissingStall uint64
	Failovers                   int
	// Restarts counts the cold restarts of its process.
	Restarts int
	// WorstFinish is the node's latest finish relative to the block's
	// deadline (negative: that much early). Offline, the deadline is the
	// cycle's start plus (1+Slack) periods, as in real time.
	WorstFinish time.Duration
	// WorstCompute is the longest time from its start to its publication.
	WorstCompute time.Duration
	// Starved counts watchdog windows in which the node was past its
	// watchdog and held up (runnable but waiting for a CPU, or blocked in
	// the kernel) rather than running: not fenced, since a spare would
	// wait as long.
	Starved int
}

// report builds a Report from the statistics; runMu is held.
func (e *Engine) report() Report {
	s := &e.stats
	r := Report{
		RealTime: e.cfg.RealTime, Rate: e.t.rate, BlockSize: e.t.blockSize, Slack: e.slack,
		Period: e.period, Watchdog: e.watchdog, Cycles: s.cycles, Late: s.late, Missing: s.missing,
		Failovers: slices.Clone(s.failovers), MoreFailovers: s.moreFO,
		Restarts: slices.Clone(s.restarts), MoreRestarts: s.moreRestarts,
		FaultsStruck: s.faults, FaultsPostponed: s.postponed,
		SinkDropped: e.sink.dropped.Load(), DroppedEvents: e.dropped.Load() + e.evring.dropped.Load(),
		Wall: s.wall, Priority: e.cfg.Priority, PriorityDenied: s.priorityDenied,
		MissingStall: s.missingStall, Stalls: s.stalls, StallMax: time.Duration(s.stallMax),
		Machine: e.machine.String(),
	}
	if e.cfg.Clock != nil {
		r.Xruns = e.cfg.Clock.Xruns()
	}
	if e.cfg.Priority > 0 {
		denied, raised, locked := e.nodeSetup()
		r.PriorityDenied = r.PriorityDenied || denied
		r.ThreadsRaised, r.MemoryLocked = raised, locked
	}
	r.GlitchFree = r.Late == 0 && r.Missing == 0 && r.SinkDropped == 0 && len(r.Restarts) == 0 && r.MoreRestarts == 0
	if n := len(s.cycleTimes); n > 0 {
		ct := slices.Clone(s.cycleTimes)
		slices.Sort(ct)
		r.CycleP50 = time.Duration(ct[(n-1)/2])
		r.CycleP99 = time.Duration(ct[(n*99+99)/100-1])
		r.CycleMax = time.Duration(ct[n-1])
	}
	for i, ns := range s.nodes {
		r.Nodes = append(r.Nodes, NodeReport{
			Name: e.t.names[i], Kind: e.t.kinds[i], Cycles: ns.cycles, Late: ns.late, Missing: ns.missing,
			MissingFenced: ns.missingFenced, MissingStall: ns.missingStall,
			Failovers: ns.failovers, Restarts: ns.restarts, WorstFinish: time.Duration(ns.worst), WorstCompute: time.Duration(ns.worstCompute),
			Starved: ns.starved,
		})
	}
	return r
}

// String prints the report for people: a summary, a line per node, a line
// per failover.
func (r Report) String() string {
	var b strings.Builder
	mode := "offline"
	if r.RealTime {
		mode = "real-time"
	}
	fmt.Fprintf(&b, "%s, %d Hz, %d frames (%v), slack %d, watchdog %v: %d blocks in %v\n",
		mode, r.Rate, r.BlockSize, r.Period, r.Slack, r.Watchdog, r.Cycles, r.Wall.Round(time.Millisecond))
	b.WriteString(r.Machine)
	fmt.Fprintf(&b, "late cycles %d, missing blocks %d, failovers %d, faults struck %d",
		r.Late, r.Missing, len(r.Failovers)+r.MoreFailovers, r.FaultsStruck)
	if r.Xruns > 0 {
		fmt.Fprintf(&b, ", server xruns %d", r.Xruns)
	}
	if r.FaultsPostponed > 0 {
		fmt.Fprintf(&b, " (%d postponed: no spare ready, or one just armed)", r.FaultsPostponed)
	}
	if n := len(r.Restarts) + r.MoreRestarts; n > 0 {
		fmt.Fprintf(&b, ", cold restarts %d", n)
	}
	switch {
	case r.PriorityDenied:
		fmt.Fprintf(&b, "\nSCHED_FIFO priority %d: DENIED, ran in normal scheduling", r.Priority)
	case r.Priority > 0:
		fmt.Fprintf(&b, "\nSCHED_FIFO priority %d", r.Priority)
		if !r.ThreadsRaised {
			b.WriteString("; node processes' other threads NOT raised")
		}
		if !r.MemoryLocked {
			b.WriteString("; memory not locked")
		}
	}
	fmt.Fprintf(&b, "\ncycle time p50 %v, p99 %v, max %v\n", r.CycleP50, r.CycleP99, r.CycleMax)
	if r.Stalls > 0 {
		fmt.Fprintf(&b, "machine stalls %d (the driver woke up to %v late), missing blocks they account for %d of %d\n",
			r.Stalls, r.StallMax.Round(time.Microsecond), r.MissingStall, r.Missing)
	}
	if r.SinkDropped > 0 {
		fmt.Fprintf(&b, "sink dropped %d blocks\n", r.SinkDropped)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	restarts := len(r.Restarts) + r.MoreRestarts
	head := "node\tkind\tblocks\tlate\tmissing\t"
	if r.Missing > 0 {
		head += "of it: stall\tfenced\tnode late\t"
	}
	head += "failovers\t"
	if restarts > 0 {
		head += "restarts\t"
	}
	fmt.Fprintln(tw, head+"starved\tworst finish vs deadline\tworst compute\t")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t", n.Name, n.Kind, n.Cycles, n.Late, n.Missing)
		if r.Missing > 0 {
			fmt.Fprintf(tw, "%d\t%d\t%d\t", n.MissingStall, n.MissingFenced, n.Missing-n.MissingStall-n.MissingFenced)
		}
		fmt.Fprintf(tw, "%d\t", n.Failovers)
		if restarts > 0 {
			fmt.Fprintf(tw, "%d\t", n.Restarts)
		}
		fmt.Fprintf(tw, "%d\t%v\t%v\t\n", n.Starved, n.WorstFinish.Round(time.Microsecond), n.WorstCompute.Round(time.Microsecond))
	}
	tw.Flush()
	for _, f := range r.Failovers {
		fmt.Fprintf(&b, "  %v\n", f)
	}
	for _, rs := range r.Restarts {
		fmt.Fprintf(&b, "  %v\n", rs)
	}
	if len(r.Failovers) > 0 {
		var det, sw []time.Duration
		for _, f := range r.Failovers {
			det, sw = append(det, f.Detect), append(sw, f.Switch)
		}
		fmt.Fprintf(&b, "detect p50 %v max %v; switch p50 %v max %v\n",
			pct(det, 50), pct(det, 100), pct(sw, 50), pct(sw, 100))
	}
	return b.String()
}

// pct returns the nearest-rank percentile p of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := (len(s)*p + 99) / 100
	return s[max(k, 1)-1]
}

// nodeSetup reads what every node process now in a lane was granted: denied
// when any was refused its priority, raised and locked when all had their
// threads raised and their memory locked.
func (e *Engine) nodeSetup() (denied, raised, locked bool) {
	raised, locked = true, true
	for h := range e.t.members {
		for l := range e.lanes {
			hl := e.b.Host(h).Lane(l)
			if atomic.LoadUint32(hl.State()) == bus.LaneEmpty {
				continue
			}
			denied = denied || atomic.LoadUint32(hl.Priority()) == bus.PriorityDenied
			setup := atomic.LoadUint32(hl.Setup())
			raised = raised && setup&bus.SetupThreadsRaised != 0
			locked = locked && setup&bus.SetupMemoryLocked != 0
		}
	}
	return denied, raised, locked
}

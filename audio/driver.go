package audio

import (
	"context"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/audio/internal/bus"
	"github.com/understudy/understudy/audio/internal/clock"
	"github.com/understudy/understudy/internal/hang"
	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
)

// The driver. Each cycle C it asks the source nodes for block C; from there
// the nodes wake each other (a node that publishes a block wakes every
// successor whose inputs are all published), and the nodes that feed
// nothing tell the driver. Meanwhile the driver sleeps on one futex with a
// timeout at the earliest watchdog deadline (and, in real time, the
// block's deadline): a node woken and not finished by then is fenced, and
// its spare computes the block from the last committed state. When every
// node has published C, the driver accounts for the cycle, hands the sink
// ports' blocks to the WAV writer, and starts C+1.
//
// A cycle starts only when the previous one is complete, so every block of
// C stays in place while C runs: a spare that recomputes a block finds its
// inputs where they were.

// runStats is what the driver accounts, across runs.
type runStats struct {
	nodes          []nodeStats
	cycles         uint64
	late           uint64 // cycles with a node finished past the deadline
	missing        uint64 // blocks the sink recorded silence for
	failovers      []Failover
	moreFO         int // failovers past cap(failovers)
	restarts       []Restarted
	moreRestarts   int    // restarts past cap(restarts)
	faults         int    // faults that struck
	postponed      int    // faults armed later than planned: no spare was ready, or one was just armed
	lastArmed      uint64 // the block the last fault was armed in
	lastPlanned    uint64 // and the block it was planned for
	cycleTimes     []int64
	wall           time.Duration
	priorityDenied bool
	runs           []*hostRun // per host, the incarnation accounted for
	lastEpoch      []uint64   // per host, of runs[h]'s segment
	lastLane       []int      // per host
	fenced         []fence    // per host
	armed          []int      // per node, the index in armedFaults, -1 if none
	struck         []bool     // per node, the armed fault struck
	armedFaults    []Fault
	// Machine stalls: the driver, the highest thread of all, woke more
	// than a watchdog window after it asked to.
	stalls       int
	stallMax     int64
	missingStall uint64 // missing blocks a stall accounts for
	// The driver's wakes on its futex word before their timeout, and the
	// cycles in which they passed their budget (a node kept changing or
	// waking the word).
	wakes, storms uint64
}

type nodeStats struct {
	cycles, late, missing uint64
	missingFenced         uint64 // missing blocks of a cycle in which it was fenced
	missingStall          uint64 // missing blocks a machine stall accounts for
	failovers             int
	restarts              int
	worst                 int64 // finish − deadline, the largest seen
	worstCompute          int64 // finish − start
	starved               int   // watchdog windows in which it waited for a CPU
	seen                  bool
}

type fence struct {
	cycle    uint64
	at, woke int64 // when it fenced, and the wake it judged from
	from, to int
	kind     hang.Kind // how the primary looked
}

func (s *runStats) init(n, hosts int) {
	s.nodes = make([]nodeStats, n)
	s.failovers = make([]Failover, 0, 4096)
	s.restarts = make([]Restarted, 0, 256)
	s.runs = make([]*hostRun, hosts)
	s.lastEpoch = make([]uint64, hosts)
	s.lastLane = make([]int, hosts)
	s.fenced = make([]fence, hosts)
	s.armed = make([]int, n)
	s.struck = make([]bool, n)
	for i := range s.armed {
		s.armed[i] = -1
	}
}

// driver holds what one Run needs, made before its first cycle.
type driver struct {
	e        *Engine
	b        *bus.Bus
	nodes    []bus.Node
	hosts    []bus.Host
	rt       bool
	period   int64
	watchdog int64
	slack    int64
	fenceAt  []int64    // per host, the last fence (0: none this cycle)
	seen     []*hostRun // per host, the incarnation the watchdog watches
	probeAt  []int64    // per host, when the watchdog began watching it run (0: not yet)
	probeRun []int64    // per host, its CPU time then
	window   int64      // how long the watchdog watches a runnable node
	credit   []int64    // per host, the machine stalls its watch is moved by
	stall    int64      // this cycle's machine stalls, summed
	served   []uint32   // per host, the lanes its segment named primary during the cycle
	behind   string     // the cycle began late, in the wake of missing blocks of this cause
	policy   hang.Policy
	start    int64 // when the current block began
	deadline int64 // the current block's
	midCycle bool  // sources woken, cycle not complete
	s        *runStats
	views    [][]float32 // per sink channel, this cycle's block
	clk      clock.Clock // Config.Clock, or nil: the engine's own timer
	probes   *cpuProbes  // in SCHED_FIFO: the CPUs' probers (cpuprobe_linux.go); nil otherwise
}

// Run runs the given number of cycles (blocks), on the calling goroutine
// locked to its thread, and returns the report of every cycle run so far.
// A node process lost with no spare ready is restarted cold by the
// engine's supervisor and Run goes on (the blocks it misses are reported,
// and Report.Restarts). It fails, wrapping [ErrNodeDown] and the
// *supervision.EscalationError, when the supervisor gives up (its
// intensity exceeded): by then every node process is stopped; with ctx's
// cause when ctx ends (mid-cycle: the cycle is abandoned and the engine
// must be closed); with a WAV write error. Real time, cycle k of this Run
// starts k periods after the first.
func (e *Engine) Run(ctx context.Context, cycles uint64) (Report, error) {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	if e.closed {
		return Report{}, ErrClosed
	}
	if e.broken != nil {
		return e.report(), fmt.Errorf("audio: engine: an earlier Run ended mid-cycle (%w); close the engine", e.broken)
	}
	if e.gaveUp.Load() {
		return e.report(), e.gaveUpErr(ctx, e.cycle+1)
	}
	d := &driver{
		e: e, b: e.b, rt: e.cfg.RealTime,
		period: int64(e.period), watchdog: int64(e.watchdog), slack: int64(e.slack),
		fenceAt:  make([]int64, len(e.t.members)),
		served:   make([]uint32, len(e.t.members)),
		seen:     make([]*hostRun, len(e.t.members)),
		probeAt:  make([]int64, len(e.t.members)),
		probeRun: make([]int64, len(e.t.members)),
		credit:   make([]int64, len(e.t.members)),
		window:   min(max(int64(e.watchdog)/4, int64(100*time.Microsecond)), int64(2*time.Millisecond)),
		s:        &e.stats,
		views:    make([][]float32, len(e.sinks)),
		clk:      e.cfg.Clock,
	}
	// The watchdog's verdict (internal/hang): windows of d.window, busy
	// machine or not, a cap of silence of four watchdogs or the block's
	// slack, and no tick look nor grace: the look is at the deadline, and
	// a runnable node gets window after window until the cap.
	d.policy = hang.Policy{
		Timeout:    d.watchdog,
		Window:     d.window,
		BusyWindow: d.window,
		Cap:        max(4*int64(e.watchdog), int64(1+e.slack)*int64(e.period)),
	}
	for i := range e.t.procs {
		d.nodes = append(d.nodes, e.b.Node(i))
	}
	for h := range e.t.members {
		d.hosts = append(d.hosts, e.b.Host(h))
		d.seen[h] = e.hosts[h].Load()
	}
	if need := len(d.s.cycleTimes) + int(min(cycles, 1<<22)); cap(d.s.cycleTimes) < need {
		d.s.cycleTimes = slices.Grow(d.s.cycleTimes, need-len(d.s.cycleTimes))
	}
	runtime.LockOSThread()
	// Above the nodes: the watchdog must preempt an overrun. The
	// process's other threads, which hand the driver its P back, go above
	// the machine's normal work (raiseEngine).
	lower := func() {}
	if e.cfg.Priority > 0 {
		if linux.SetFIFO(e.driverPriority()) != nil {
			d.s.priorityDenied = true
		} else {
			lower = raiseEngine()
			d.probes = startProbes(e.driverPriority())
		}
	}
	start := time.Now()
	if d.clk != nil {
		d.clk.Begin(e.cycle + 1)
	}
	err := d.run(ctx, cycles)
	if d.clk != nil {
		d.clk.End(e.cycle)
	}
	if err != nil && d.midCycle {
		e.broken = err
	}
	d.s.wall += time.Since(start)
	if d.probes != nil {
		d.probes.stop()
	}
	lower()
	if e.cfg.Priority > 0 {
		linux.SetFIFO(0)
	}
	runtime.UnlockOSThread()
	if ferr := e.sink.flush(ctx); err == nil {
		err = ferr
	}
	return e.report(), err
}

func (d *driver) run(ctx context.Context, cycles uint64) error {
	e := d.e
	driverWord := d.b.Driver()
	t0 := mono.Now() + d.period
	for k := range cycles {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		C := e.cycle + 1
		if e.gaveUp.Load() {
			return e.gaveUpErr(ctx, C)
		}
		var start, deadline int64
		clear(d.fenceAt)
		clear(d.probeAt)
		clear(d.credit)
		d.stall = 0
		if d.clk != nil {
			target, waited, err := d.tick(ctx, C)
			if err != nil {
				return err
			}
			start, deadline = mono.Now(), target+(1+d.slack)*d.period-d.clk.Margin()
			if late := start - target; waited {
				d.behind = ""
				d.countStall(late)
			} else if late <= d.window {
				d.behind = ""
			}
		} else if d.rt {
			target := t0 + int64(k)*d.period
			slept := false
			if mono.Now() < target {
				linux.SleepUntil(target)
				slept = true
			}
			start, deadline = mono.Now(), target+(1+d.slack)*d.period
			if late := start - target; slept {
				d.behind = ""
				d.countStall(late)
			} else {
				// Started late without sleeping: still catching up
				// with the cycles held up by whatever made the first
				// of them miss, or not.
				if late <= d.window {
					d.behind = ""
				}
			}
		} else {
			start = mono.Now()
			deadline = start + (1+d.slack)*d.period
		}
		d.start, d.deadline = start, deadline
		if err := d.arm(ctx, C); err != nil {
			return err
		}
		base := atomic.LoadUint32(driverWord)
		atomic.StoreUint32(d.b.CycleBase(), base)
		now := mono.Now()
		d.midCycle = true
		clear(d.served)
		d.serving()
		for _, h := range e.t.hostSources {
			wakeHost(d.hosts[h], C, now)
		}
		missed := false
		gate := wakeGate{budget: d.wakeBudget()}
		for {
			seen := atomic.LoadUint32(driverWord)
			d.serving()
			if d.complete(C) {
				break
			}
			now = mono.Now()
			if err := d.watch(ctx, C, now); err != nil {
				return err
			}
			if d.rt && !missed && now >= deadline {
				missed = true
				d.miss(C)
			}
			wake := d.next(C, now, deadline, missed)
			if futex, storm := gate.next(); futex {
				if !linux.FutexWaitUntil(driverWord, seen, wake) {
					gate.woken()
					d.s.wakes++
				}
			} else {
				if storm {
					d.s.storms++
				}
				linux.SleepUntil(min(wake, now+d.nap()))
			}
			// Woken past its own timeout (by it, or by a node's wake
			// that came as late): a stall, even if the cycle is
			// complete now.
			d.stalled(C, mono.Now()-wake)
		}
		end := mono.Now()
		if d.rt && !missed && d.lastFinish(C, end) > deadline {
			// Complete, but after its deadline (the driver was woken
			// late): the sound card would have played silence already.
			missed = true
			d.miss(C)
		}
		d.account(C, start, deadline, end)
		d.record(ctx, C, missed)
		if missed && d.behind == "" {
			d.behind = d.cause(-1)
		}
		if e.cycleHook != nil {
			e.cycleHook(C)
		}
		e.cycle = C
		d.midCycle = false
	}
	return nil
}

// tick waits for the clock's period that starts cycle C, looking at ctx
// and at the supervisor every 20 ms, and returns when the period began and
// whether the driver waited for it.
func (d *driver) tick(ctx context.Context, C uint64) (int64, bool, error) {
	for {
		start, begun, waited, err := d.clk.Wait(C, mono.Now()+int64(20*time.Millisecond))
		switch {
		case err != nil:
			return 0, false, fmt.Errorf("audio: engine: cycle %d: %w", C, err)
		case begun:
			return start, waited, nil
		case ctx.Err() != nil:
			return 0, false, context.Cause(ctx)
		case d.e.gaveUp.Load():
			return 0, false, d.e.gaveUpErr(ctx, C)
		}
	}
}

// wakeBudget is how many times in a cycle the driver's wait on its futex
// word may end before its timeout: each terminal node adds to the word
// once a cycle, and the last of them wakes it.
func (d *driver) wakeBudget() int { return 2*len(d.e.t.terminals) + 16 }

// nap is how long the driver sleeps between looks once a cycle's early
// wakes passed their budget: an eighth of a period, at most a watchdog
// window, at least 50 µs.
func (d *driver) nap() int64 { return napFor(d.window, d.period) }

// serving notes, for each host, the lane its segment names primary now.
// A block counts only from a lane that served its host during the cycle:
// every process can write every lane's record, and a claim from a parked
// spare's lane, or from a lane no process serves, is not a publication.
func (d *driver) serving() {
	for h := range d.served {
		if r := d.e.hosts[h].Load(); r != nil {
			_, l := r.seg.Control()
			d.served[h] |= 1 << l
		}
	}
}

// stalled notes that the driver woke late by late: past a watchdog window,
// the machine did not run it (the driver is the highest thread of the
// engine: a host that paused the virtual machine, or the Go scheduler
// handing its thread a P late). Every node woken for C was held up as
// long, or may have been: its watch is moved by the stall before it is
// judged, so that a node is fenced only for time the driver saw pass
// while it could have run.
func (d *driver) stalled(C uint64, late int64) {
	if !d.countStall(late) {
		return
	}
	for h := range d.hosts {
		if !d.asked(h, C, mono.Now()) || d.hostDone(h, C) {
			continue
		}
		if d.probeAt[h] != 0 {
			d.probeAt[h] += late
		} else {
			d.credit[h] += late
		}
	}
}

// countStall counts a stall of the driver, late past a watchdog window,
// and reports whether it was one. At a cycle's start (the driver woke late
// for it, or its clock's period began late) it is all there is to do: no
// node is woken for the cycle yet, none has a watch to move, and asking
// the sources then would wake them before the cycle's faults are armed.
func (d *driver) countStall(late int64) bool {
	if late <= d.window {
		return false
	}
	s := d.s
	s.stalls++
	s.stallMax = max(s.stallMax, late)
	d.stall += late
	return true
}

// stallCause reports whether the missing blocks of this cycle are a
// machine stall's: the driver stalled for the block's whole slack, or the
// cycle began late in the wake of a stall's missing blocks.
func (d *driver) stallCause() bool {
	return d.behind == causeStall || d.behind == "" && d.stall > 0 && d.stall >= max(d.slack, 1)*d.period
}

// cause returns why host h's block of this cycle is missing (h < 0: the
// cycle's, any host fenced): the cause of the first block of a backlog
// the cycle is still catching up with, a machine stall, the host fenced
// in this cycle, or the node late.
func (d *driver) cause(h int) string {
	switch {
	case d.behind != "":
		return d.behind
	case d.stallCause():
		return causeStall
	case h >= 0 && d.fenceAt[h] != 0:
		return causeFenced
	case h < 0 && slices.ContainsFunc(d.fenceAt, func(at int64) bool { return at != 0 }):
		return causeFenced
	}
	return causeLate
}

// done reports whether node i has published block C, and in which lane:
// one that served its host during the cycle (serving), whose last cycle
// published is exactly C. Any other value is ignored.
func (d *driver) done(i int, C uint64) (int, bool) {
	return doneLane(d.nodes[i], d.served[d.e.t.hostOf[i]], C)
}

// complete reports whether every node has published block C in a lane
// that served its host. Every node feeds a terminal node, directly or not,
// and a node is woken only once all its inputs are published, so the
// terminals would tell; but the nodes believe a publication in any lane,
// and the driver only in a lane that served, so it asks every node.
func (d *driver) complete(C uint64) bool {
	for i := range d.nodes {
		if _, ok := d.done(i, C); !ok {
			return false
		}
	}
	return true
}

// deadlineOf returns when host h, woken for C and not done with it, is
// fenced, or 0 when it is not running C.
func (d *driver) deadlineOf(h int, C uint64, now int64) int64 {
	if !d.asked(h, C, now) || d.hostDone(h, C) {
		return 0
	}
	return d.due(h, d.wokeAt(h, now))
}

// asked reports whether host h is asked for block C: its request word says
// so, or, the word being any node process's to write, the graph does (it
// is a source, or every node outside it that feeds it has published C).
// A host the graph asks while its word says otherwise is asked by the
// driver itself, now: a predecessor held up between its publication and
// its wake-up, or a word rewritten, neither hides a node from the
// watchdog nor has it judged for a wake it never had.
func (d *driver) asked(h int, C uint64, now int64) bool {
	host := d.hosts[h]
	req := atomic.LoadUint64(host.Req())
	if req == C {
		return true
	}
	if !d.graphAsks(h, C) {
		return false
	}
	atomic.StoreInt64(host.WakeAt(), now)
	if atomic.CompareAndSwapUint64(host.Req(), req, C) {
		atomic.StoreUint32(host.Wake(), uint32(C))
		linux.FutexWake(host.Wake(), 1<<30)
	}
	return true
}

// graphAsks reports whether the graph asks host h for block C: it is a
// source, or every node outside it that feeds it has published C.
func (d *driver) graphAsks(h int, C uint64) bool {
	for _, p := range d.e.t.hostPreds[h] {
		if _, ok := d.done(p, C); !ok {
			return false
		}
	}
	return true
}

// wokeAt returns when host h was woken for the block under way, or last
// fenced when that is later. The host record's word is any node process's
// to write: a time before the block began, or one still to come, is taken
// as the block's start, so that no node can put its own watchdog off.
func (d *driver) wokeAt(h int, now int64) int64 {
	w := atomic.LoadInt64(d.hosts[h].WakeAt())
	clock := now
	if w > now {
		clock = mono.Now() // read only when the claim is past now
	}
	return max(wakeClaim(w, d.start, now, clock), d.fenceAt[h])
}

// due returns when the watchdog looks at host h next, woken (or last
// fenced) at woke: a window after its last look, or a watchdog period
// after woke.
func (d *driver) due(h int, woke int64) int64 {
	if d.probeAt[h] != 0 {
		return d.probeAt[h] + d.window
	}
	return woke + d.credit[h] + d.watchdog
}

// hostDone reports whether every node of host h has published block C.
func (d *driver) hostDone(h int, C uint64) bool {
	for _, i := range d.e.t.members[h] {
		if _, ok := d.done(i, C); !ok {
			return false
		}
	}
	return true
}

// watch fences the nodes past their watchdog, and fails when the
// supervisor gave up. A node process restarted cold (a new incarnation)
// gets a whole watchdog from when the driver sees it.
func (d *driver) watch(ctx context.Context, C uint64, now int64) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if d.e.gaveUp.Load() {
		return d.e.gaveUpErr(ctx, C)
	}
	for h := range d.hosts {
		if r := d.e.hosts[h].Load(); r != d.seen[h] {
			d.seen[h] = r
			if d.fenceAt[h] != 0 {
				d.fenceAt[h], d.probeAt[h], d.credit[h] = now, 0, 0
			}
		}
		if dl := d.deadlineOf(h, C, now); dl != 0 && now >= dl {
			d.expire(h, C, now)
		}
	}
	return nil
}

// next returns when the driver must look again: the earliest watchdog
// deadline, the block's deadline in real time, and at most 20 ms from now
// (to notice ctx and a supervisor giving up).
func (d *driver) next(C uint64, now, deadline int64, missed bool) int64 {
	next := now + int64(20*time.Millisecond)
	if d.rt && !missed || !d.rt && now < deadline {
		// Offline too: a node that keeps the terminals from waking the
		// driver (its cycle base rewritten) costs a block's slack, not
		// the 20 ms look.
		next = min(next, deadline)
	}
	for h := range d.hosts {
		if dl := d.deadlineOf(h, C, now); dl != 0 {
			next = min(next, dl)
		}
	}
	return next
}

// expire decides about node i, woken for C and past its watchdog, by the
// verdict of internal/hang over the scheduler's own accounting, which
// tells a hang from a node merely waiting for a CPU on a loaded machine: a
// primary that is stopped, asleep or gone is fenced at once, and so is one
// runnable in SCHED_FIFO at its priority and on its CPU for a quarter of a
// window (nothing of normal priority keeps it off a CPU: it overruns),
// which a probe of that CPU tells from one held off it
// (cpuprobe_linux.go). One held off its CPU, or runnable in normal
// scheduling, is watched for a short window, and fenced if it spent half
// of it on a CPU (an overrun), left alone if it did not (starved: a spare
// would wait for a CPU just the same, and starting its replacement would
// load the machine further), up to a cap.
func (d *driver) expire(i int, C uint64, now int64) {
	host := d.hosts[i]
	hr := d.e.hosts[i].Load()
	if hr.down.Load() != nil {
		// Lost with no spare ready: nothing to fence until its
		// supervisor has restarted it.
		d.fenceAt[i], d.probeAt[i], d.credit[i] = now, 0, 0
		return
	}
	_, lane := hr.seg.Control()
	r := host.Lane(lane)
	woke := d.wokeAt(i, now)
	task := linux.Task{State: 'R'} // a spare still taking over: give it its time
	fifo := d.e.cfg.Priority > 0 && atomic.LoadUint32(r.Priority()) == uint32(d.e.hostPriority(i))
	var probe cpuLook
	if pid := hr.pid(lane); pid != 0 && atomic.LoadUint32(r.State()) == bus.LaneActive {
		// The process is the one the group started in the lane, not the
		// pid its record claims; the loop's thread is the record's claim,
		// believed only as a thread of that process (/proc/<pid>/task/<tid>):
		// a thread that is not its own is judged gone.
		tid := int(atomic.LoadUint32(r.Tid()))
		var ok bool
		if task, ok = linux.ReadTask(pid, tid); !ok {
			task.State = 'X'
		}
		if fifo && task.State == 'R' {
			// On its CPU, or held off it? (cpuprobe_linux.go)
			probe = d.probes.look(pid, tid, task, mono.Now()+d.probeLimit())
			if probe.probed && d.hostDone(i, C) {
				return // it finished while probed
			}
			task = probe.task
		}
	} else if fifo {
		probe.probed = true // held off its CPU by its takeover: given its time
	}
	first := d.probeAt[i] == 0 // no window watched yet
	v := hang.Judge(d.policy, hang.Sample{
		Now:      now,
		Progress: woke + d.credit[i],
		Due:      d.due(i, woke),
		Runnable: task.State == 'R',
		InKernel: task.State == 'D',
		FIFO:     fifo,
		Probed:   probe.probed,
		ProbeRan: probe.ran,
		CPUOK:    !first && task.Run != 0,
		Ran:      task.Run - d.probeRun[i],
		Elapsed:  now - d.probeAt[i],
		// The driver does not read the machine's load: a runnable node
		// is taken as waiting for a CPU.
		Busy: true,
	})
	// No Look: the policy has no tick look and no grace, and the look
	// comes past the deadline.
	switch v.Step {
	case hang.Hung:
		d.fence(i, C, now, v.Kind)
	case hang.Starved:
		if !first {
			d.s.nodes[i].starved++
		}
		d.probeAt[i], d.probeRun[i] = now, task.Run
	}
}

// probeLimit is how long a probe (cpuprobe_linux.go) waits for a node on
// its CPU to show it: a live CPU runs the prober, raised above the node,
// within tens of microseconds (20-50 µs, now and then 100, on a loaded
// virtual machine). Half a watchdog window, at least 100 µs and at most
// 200 µs: the driver waits spinning, and watches no other node meanwhile;
// a spinner the limit misses shows at the next look, a window later.
func (d *driver) probeLimit() int64 {
	return min(max(d.window/2, int64(100*time.Microsecond)), int64(200*time.Microsecond))
}

// fence moves node i to a parked spare: a new epoch fences the primary (its
// commits no longer count), the spare wakes and computes the block from the
// last committed state, and the old primary is killed. The driver does it
// itself, through the group's segment; the supervisor only hears of it
// (a Promoted event). With no spare ready, it waits a watchdog period and
// tries again (a node process that is down meanwhile is restarted cold).
func (d *driver) fence(i int, C uint64, now int64, kind hang.Kind) {
	r := d.e.hosts[i].Load()
	seg := r.seg
	_, from := seg.Control()
	woke := d.wokeAt(i, now)
	if host := d.hosts[i]; atomic.LoadUint64(host.Req()) != C {
		// Its request word was rewritten: ask it again, for the spare
		// about to take over (or the primary, if it merely missed it).
		atomic.StoreInt64(host.WakeAt(), now)
		atomic.StoreUint64(host.Req(), C)
		atomic.StoreUint32(host.Wake(), uint32(C))
		linux.FutexWake(host.Wake(), 1<<30)
	}
	d.fenceAt[i], d.probeAt[i], d.credit[i] = now, 0, 0
	mask := r.spareMask.Load() &^ (1 << from)
	if mask == 0 || !r.ready() {
		return // looks again a watchdog period later
	}
	to := bits.TrailingZeros32(mask)
	old := r.g.Primary()
	at := mono.Now()
	if _, _, err := hooks.Promote(seg, from, to); err != nil {
		return
	}
	r.spareMask.And(^uint32(1 << to))
	d.served[i] |= 1 << to
	if old != nil {
		old.Kill()
	}
	d.fenceAt[i] = at
	d.s.fenced[i] = fence{cycle: C, at: at, woke: woke, from: from, to: to, kind: kind}
}

// lastFinish returns when the last node published block C, as the nodes
// say, but no later than end, when the driver saw the cycle complete: a
// finish time still to come cannot make the whole cycle late.
func (d *driver) lastFinish(C uint64, end int64) int64 {
	var last int64
	for i, n := range d.nodes {
		if l, ok := d.done(i, C); ok {
			_, fin, _ := blockTimes(n.Lane(l), d.start, end)
			last = max(last, fin)
		}
	}
	return last
}

// miss records that block C was not ready at its deadline: each node that
// had not published it by then is missing it.
func (d *driver) miss(C uint64) {
	d.s.missing++
	if d.cause(-1) == causeStall {
		d.s.missingStall++
	}
	now := mono.Now()
	for i, n := range d.nodes {
		if l, ok := d.done(i, C); !ok || lateFinish(n.Lane(l), d.start, now, d.deadline) {
			ns := &d.s.nodes[i]
			ns.missing++
			cause := d.cause(d.e.t.hostOf[i])
			switch cause {
			case causeStall:
				ns.missingStall++
			case causeFenced:
				ns.missingFenced++
			}
			if d.e.live != nil {
				d.e.live.missed(i, cause)
			}
			d.e.evring.put(evRec{kind: evMissing, node: i, cycle: C, cause: cause})
		}
	}
}

// account updates the statistics for block C and notices failovers.
func (d *driver) account(C uint64, start, deadline, end int64) {
	s := d.s
	s.cycles++
	if len(s.cycleTimes) < cap(s.cycleTimes) {
		s.cycleTimes = append(s.cycleTimes, end-start)
	}
	late := false
	for i, n := range d.nodes {
		ns := &s.nodes[i]
		l, ok := d.done(i, C)
		if !ok {
			continue // complete says every node is done; never index lane -1
		}
		st, fin, began := blockTimes(n.Lane(l), start, end)
		ns.cycles++
		rel := fin - deadline
		if !ns.seen || rel > ns.worst {
			ns.worst = rel
		}
		ns.seen = true
		// A block is started after the cycle is, and before it is
		// published: any other start is a lane's stale stamp, not this
		// block's.
		if began {
			ns.worstCompute = max(ns.worstCompute, fin-st)
			if d.e.live != nil {
				d.e.live.observe(i, fin-st)
			}
		}
		if d.rt && rel > 0 {
			ns.late++
			if d.e.live != nil {
				d.e.live.late[i].Add(1)
			}
			late = true
			d.e.evring.put(evRec{kind: evLate, node: i, cycle: C, by: rel})
		}
		if s.armed[i] >= 0 && !s.struck[i] && atomic.LoadUint32(n.FaultFired()) == 1 {
			s.struck[i] = true
			s.faults++
		}
	}
	for h := range d.hosts {
		d.failover(h, C, end)
	}
	if late {
		s.late++
	}
}

// failover notices that host h has a new primary that published block C
// (the driver saw the cycle complete at end): a spare that took over, or a
// node process restarted cold.
func (d *driver) failover(h int, C uint64, end int64) {
	s := d.s
	t := d.e.t
	run := d.e.hosts[h].Load()
	epoch, lane := run.seg.Control()
	if run != s.runs[h] {
		d.restarted(h, C, end, run, epoch, lane)
		return
	}
	if epoch == s.lastEpoch[h] {
		return
	}
	members := t.members[h]
	last := members[len(members)-1]
	if atomic.LoadUint64(d.nodes[last].Lane(lane).Done()) != C {
		return // promoted after it ended: its first block is still to come
	}
	r := d.hosts[h].Lane(lane)
	run.spareMask.And(^uint32(1 << lane))
	f := Failover{
		Node: t.names[members[0]], Process: d.e.hostProcess(h), Cycle: C, Promotions: int(epoch - s.lastEpoch[h]),
		FromLane: s.lastLane[h], ToLane: lane, Recovery: recoveryOf(r),
	}
	detected := claimedAt(atomic.LoadInt64(r.PromotedAt()), end)
	recovered := claimedAt(atomic.LoadInt64(d.nodes[last].Lane(lane).FinishAt()), end)
	node := members[0]
	from := claimedAt(atomic.LoadInt64(d.hosts[h].WakeAt()), end)
	if fe := s.fenced[h]; fe.at != 0 && fe.to == lane {
		f.Watchdog, detected, from = true, fe.at, fe.woke
		f.Verdict = verdictNames[fe.kind]
		s.fenced[h] = fence{}
	}
	for _, i := range members {
		if a := s.armed[i]; a >= 0 && atomic.LoadUint32(d.nodes[i].FaultFired()) == 1 {
			f.Node, node = t.names[i], i
			f.Fault = s.armedFaults[a].Kind
			struck := claimedAt(atomic.LoadInt64(d.nodes[i].FaultFiredAt()), end)
			f.Struck, from = at(struck), struck
			s.armed[i] = -1
			break
		}
	}
	f.Detected, f.Recovered = at(detected), at(recovered)
	if from != 0 && from <= detected {
		f.Detect = time.Duration(detected - from)
	}
	if recovered >= detected {
		f.Switch = time.Duration(recovered - detected)
	}
	for _, i := range members {
		s.nodes[i].failovers += int(epoch - s.lastEpoch[h])
		if d.e.live != nil {
			d.e.live.failovers[i].Add(epoch - s.lastEpoch[h])
		}
	}
	s.lastEpoch[h], s.lastLane[h] = epoch, lane
	if len(s.failovers) < cap(s.failovers) {
		s.failovers = append(s.failovers, f)
	} else {
		s.moreFO++
	}
	d.e.evring.put(evRec{kind: evFailover, node: node, cycle: C, fo: f})
}

// restarted notices that host h runs a new incarnation, restarted cold by
// the supervisor, once its primary has published block C (the engine
// takes its group up when its spares are ready too; its primary may have
// published a few blocks by then).
func (d *driver) restarted(h int, C uint64, end int64, run *hostRun, epoch uint64, lane int) {
	s := d.s
	t := d.e.t
	members := t.members[h]
	last := members[len(members)-1]
	if atomic.LoadUint64(d.nodes[last].Lane(lane).Done()) != C {
		return // its first block is still to come
	}
	old := s.runs[h]
	node := members[0]
	// The new primary serves from when it is ready, before its spares are
	// (and so before the supervisor reports it ready): the blocks since
	// the one after the state it began from are its.
	hl := d.hosts[h].Lane(lane)
	rs := Restarted{
		Node: t.names[node], Process: d.e.hostProcess(h), Cycle: adoptedCycle(hl, C), Incarnation: run.inc,
	}
	recovered, down := claimedAt(atomic.LoadInt64(hl.PromotedAt()), end), int64(0)
	if x := old.down.Load(); x != nil {
		rs.Exit, down = *x, old.downMono.Load()
	}
	rs.Down, rs.Recovered = at(down), at(recovered)
	if down != 0 && recovered >= down {
		rs.Outage = time.Duration(recovered - down)
	}
	for _, i := range members {
		if a := s.armed[i]; a >= 0 && atomic.LoadUint32(d.nodes[i].FaultFired()) == 1 {
			rs.Node, node = t.names[i], i
			rs.Fault = s.armedFaults[a].Kind
			s.armed[i] = -1
			break
		}
	}
	for _, i := range members {
		s.nodes[i].restarts++
	}
	s.runs[h], s.lastEpoch[h], s.lastLane[h], s.fenced[h] = run, epoch, lane, fence{}
	if len(s.restarts) < cap(s.restarts) {
		s.restarts = append(s.restarts, rs)
	} else {
		s.moreRestarts++
	}
	d.e.evring.put(evRec{kind: evRestarted, node: node, cycle: C, rs: rs})
}

// arm writes the faults planned up to block C into their nodes' fault
// plans. A fault needs a spare ready to take over: offline the driver
// waits for one; in real time the fault is postponed a block. In real
// time, too, a fault is armed no sooner than Slack+2 blocks after the one
// before it, unless they were planned for the same block: faults
// postponed while a spare came up are not let loose in one block together
// (one failover after the other in a block misses any deadline), but keep
// faults planned apart apart.
func (d *driver) arm(ctx context.Context, C uint64) error {
	e := d.e
	for len(e.faults) > 0 && e.faults[0].Cycle <= C {
		f := e.faults[0]
		i := slices.Index(e.t.names, f.Node)
		h := e.t.hostOf[i]
		if d.rt && d.s.lastArmed != 0 && C < d.s.lastArmed+uint64(d.slack)+2 && f.Cycle != d.s.lastPlanned {
			if f.Cycle == C {
				d.s.postponed++
			}
			return nil
		}
		for !d.spareReady(h) {
			if d.rt {
				if f.Cycle == C {
					d.s.postponed++
				}
				return nil
			}
			if err := d.awaitSpare(ctx, h); err != nil {
				return err
			}
		}
		n := d.nodes[i]
		atomic.StoreUint64(n.FaultCycle(), 0)
		atomic.StoreUint32(n.FaultFired(), 0)
		atomic.StoreUint32(n.FaultKind(), faultKindCode(f.Kind))
		atomic.StoreUint32(n.FaultPoint(), uint32(faultPointCode(f.Point)))
		atomic.StoreInt64(n.FaultSpin(), int64(f.Spin))
		atomic.StoreUint64(n.FaultCycle(), C)
		d.s.armedFaults = append(d.s.armedFaults, f)
		d.s.armed[i] = len(d.s.armedFaults) - 1
		d.s.struck[i] = false
		d.s.lastArmed, d.s.lastPlanned = C, f.Cycle
		e.faults = e.faults[1:]
	}
	return nil
}

func (d *driver) spareReady(i int) bool { return d.e.spareReady(i) }

// awaitSpare waits, offline, for a spare of host i to come up (in a node
// process restarted cold meanwhile, too).
func (d *driver) awaitSpare(ctx context.Context, i int) error {
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for !d.spareReady(i) {
		if d.e.gaveUp.Load() {
			return d.e.gaveUpErr(ctx, d.e.cycle+1)
		}
		select {
		case <-d.e.spareCh:
		case <-time.After(5 * time.Millisecond):
		case <-timeout.C:
			return fmt.Errorf("%w: %s: no spare came up in 30s to take a fault", ErrNodeDown, d.e.t.hostLabel(i))
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// record hands block C of the sink ports to the WAV writer, or silence
// when the block missed its deadline.
func (d *driver) record(ctx context.Context, C uint64, missed bool) {
	if d.clk != nil && !missed {
		ok := true
		for c, s := range d.e.sinks {
			l, done := d.done(s.node, C)
			if !done {
				ok = false
				break
			}
			d.views[c] = d.nodes[s.node].Lane(l).Out(s.port)
		}
		if ok {
			d.clk.Put(C, d.views)
		}
	}
	slot := d.e.sink.slot(ctx, !d.rt)
	if slot == nil {
		return
	}
	if missed {
		clear(slot)
	} else {
		for c, s := range d.e.sinks {
			l, ok := d.done(s.node, C)
			if !ok {
				clear(slot) // complete says every node is done; never index lane -1
				d.e.sink.commit()
				return
			}
			d.views[c] = d.nodes[s.node].Lane(l).Out(s.port)
		}
		ch := len(d.views)
		for c, v := range d.views {
			for f, x := range v {
				slot[f*ch+c] = x
			}
		}
	}
	d.e.sink.commit()
}

// forward turns the driver's event records into Events, every 5 ms.
func (e *Engine) forward(ctx context.Context) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	send := func(r evRec) {
		name := e.t.names[r.node]
		switch r.kind {
		case evFailover:
			e.emit(r.fo)
		case evRestarted:
			e.emit(r.rs)
		case evLate:
			e.emit(Late{Node: name, Cycle: r.cycle, By: time.Duration(r.by)})
		case evMissing:
			e.emit(Late{Node: name, Cycle: r.cycle, Missing: true, Cause: r.cause})
		}
	}
	for {
		select {
		case <-ctx.Done():
			e.evring.drain(send)
			return
		case <-tick.C:
			e.evring.drain(send)
		}
	}
}

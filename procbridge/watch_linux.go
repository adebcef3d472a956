//go:build linux

package procbridge

import (
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/internal/hang"
	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// hangState is the hang monitor's watch of one worker: what it has seen of
// the worker's progress, and, while the worker is suspect, the readings
// each look is measured against. The verdict is internal/hang's.
type hangState struct {
	// What a quick look reads, first and together: one cache line.
	beat      *uint64 // the lane's beat count, in place
	beatAt    *int64  // the lane's beat time, in place
	quickCtl  *uint64 // ctlWord while a quick look may serve (quickable), else nil
	ctlAuth   uint64  // the control word the last full look found sound
	lastCount uint64
	progress  int64 // mono ns of the last observed progress
	dueAfter  int64 // Timeout - lead: the watch opens this long after progress
	dueFloor  int64 // ready + StartGrace + Timeout - lead: and never before this

	p          *Process
	policy     hang.Policy
	dog        int     // the worker's watchdog timerfd, or -1 (the monitor's timer serves)
	dogAt      int64   // the deadline the monitor last set on the watchdog
	lead       int64   // the watch starts this long before the deadline
	dogGap     int64   // how early an SDK's watchdog may fire (shm.WatchdogGap)
	ctlWord    *uint64 // the segment's control word, in place, when it has one lane (else nil)
	idx        int     // its place in the monitor's list
	parked     bool    // a spare, parked at the last look
	suspect    bool
	suspectAt  int64 // mono ns when it became suspect
	tickLooked bool  // gave a runnable suspect, whose CPU had not shown, a tick more
	confirmAt  int64
	run0       int64        // CPU ns when it became suspect (schedstat, per tick)
	probe      *threadProbe // its threads, watched while suspect, or nil
	cpuLook    *cpuLook     // the CPUs its threads sleep on, asked at the last look (made at its first watch)
	cpuStart   int64        // CPU ns when it became suspect (cpu)
	cpuOK      bool         // cpuStart could be read
	cpu0       int64        // CPU ns at the start of the window (cpu)
	cpu0At     int64        // mono ns when cpu0 was read
	waitLast   int64        // run-queue wait ns at the last look
	starved    int64
	kind       string // what the last look saw, once hung (HangError.Kind)
	ready      int64  // mono ns when it became ready (its first startGrace it is young)
	lookedAt   int64  // mono ns of the last look at a suspect
	heldAt     int64  // mono ns of the last look that found it held up, since its last progress (hang.Sample.HeldAt)
	machineAt  int64  // the same, the machine itself holding it (hang.Sample.MachineAt)
	psi0       int64  // the machine's CPU pressure total when the watch opened (cpuPressure)
	psi0At     int64  // mono ns when psi0 was read
	psiOK      bool   // psi0 could be read
	early      int    // watchdog fires in a row before the deadline (budgetFire)
	revoked    bool   // the watchdog broke the rules: the monitor's timer serves
	// corrupt: the worker broke the segment's protocol (its control word,
	// corruptWord); it is killed for that, not judged hung.
	corrupt     bool
	corruptWord uint64
}

// newHangState starts the watch of p, from its readiness. A worker gets
// windows of shm.HangWindow, a busy machine's window long enough for the
// scheduler's accounting to move, a sleeper a window past its deadline,
// and a held-up worker ten timeouts of silence, at least 250 ms. Until it
// is startGrace old, its deadline is no earlier than a timeout after that.
// While the machine holds it up (hang.Judge), it is looked at every HeldUpWindow: under CPU
// pressure up to the cap, and while many workers are overdue or the
// monitor's own wakes come late, up to heldUpMax of silence; while many
// are silent, a heldUpSpread apart each.
func newHangState(p *Process) *hangState {
	hb := p.spec.Heartbeat
	interval, timeout := int64(hb.Interval), int64(hb.Timeout)
	window := shm.HangWindow(interval)
	st := &hangState{
		p:   p,
		dog: -1,
		policy: hang.Policy{
			Timeout:    timeout,
			Interval:   interval,
			Window:     window,
			BusyWindow: max(window, interval, hang.SchedTick),
			Cap:        max(10*timeout, int64(250*time.Millisecond)),
			Grace:      window,
			Tick:       hang.SchedTick,

			StartGrace:   int64(startGrace),
			HeldUpWindow: max(timeout/2, window, interval, hang.SchedTick),
			HeldUpMax:    int64(heldUpMax(time.Duration(timeout))),
			HeldUpSpread: int64(heldUpSpread),
		},
		lead:     shm.WatchdogLead(interval, timeout),
		dogGap:   shm.WatchdogGap(interval, timeout),
		progress: p.readyMono.Load(),
		ready:    p.readyMono.Load(),
	}
	st.lastCount, _ = p.lane.Heartbeat()
	st.beat, st.beatAt = p.lane.HeartbeatWords()
	if p.segment.cfg.Lanes == 1 {
		st.ctlWord, st.ctlAuth = p.seg.ControlAddr(), p.segment.ctl.Load()
	}
	st.dueAfter = st.policy.Timeout - st.lead
	st.dueFloor = st.policy.Deadline(0, st.ready) - st.lead
	if st.policy.StartGrace <= 0 {
		st.dueFloor = 0
	}
	st.quickable()
	return st
}

// quickable sets whether the next look at the worker may be quick: its
// segment has one lane, and it is neither suspect nor a parked spare. The
// monitor calls it after each full look, which alone changes these.
func (st *hangState) quickable() {
	st.quickCtl = nil
	if !st.suspect && !st.parked {
		st.quickCtl = st.ctlWord
	}
}

// quick is the look at a worker that beat since the last one, made of
// memory reads alone (three words of its segment, all in place, so that
// the processor overlaps the reads of many workers): no system call, no
// chain of loads through the process's structures. It returns when to look
// next and true when the worker beat, is neither suspect nor a parked
// spare, its segment has one lane whose control word is the one the last
// full look found sound, and its watch does not open yet: all that check
// would conclude. Otherwise it changes nothing and returns false, and the
// monitor makes the full look (check).
//
// It reads the first cache line of st and two of the segment's; a worker
// that is not suspect has no heldAt or machineAt to clear.
func (st *hangState) quick(now int64) (next int64, ok bool) {
	if st.quickCtl == nil {
		return 0, false
	}
	count := atomic.LoadUint64(st.beat)
	if count == st.lastCount || atomic.LoadUint64(st.quickCtl) != st.ctlAuth {
		return 0, false
	}
	progress := beatProgress(atomic.LoadInt64(st.beatAt), st.progress, now)
	next = max(progress+st.dueAfter, st.dueFloor) // watchAt, at progress
	if now >= next {
		return 0, false
	}
	st.lastCount, st.progress = count, progress
	return next, true
}

// observe records progress when the worker beat since the last look.
func (st *hangState) observe(now int64) bool {
	count, at := st.p.lane.Heartbeat()
	if count == st.lastCount {
		return false
	}
	st.lastCount = count
	st.progress = beatProgress(at, st.progress, now)
	st.clear()
	return true
}

// clear ends a suspicion.
func (st *hangState) clear() {
	st.suspect = false
	st.heldAt, st.machineAt = 0, 0
	if st.probe != nil {
		st.probe.close()
		st.probe = nil
	}
}

// sample looks at the worker's threads. Without a probe (its /proc could
// not be read when the watch opened) it reads the leader alone.
func (st *hangState) sample() threadSample {
	if st.probe != nil {
		return st.probe.sample()
	}
	cpu := linux.ProcessCPU(st.p.pid)
	t, _ := linux.ReadTaskStat(st.p.pid, st.p.pid)
	s := threadSample{cpu: cpu, cpuOK: cpu > 0, dead: taskDying(t), stopped: t.State == 'T' || t.State == 't'}
	s.ranOn(t.CPU)
	return s
}

// machine fills in what s needs of the machine's state: the CPU pressure
// over the whole watch (a short window's share swings with the load's
// bursts), the workers overdue, and whether the monitor stalled since its
// last look.
func (st *hangState) machine(s *hang.Sample, ml *machineLook, now int64) {
	if psi, avg, ok := ml.cpuPressure(); ok && st.psiOK {
		s.Pressure, s.PressureOver, s.PressureAvg = psi-st.psi0, now-st.psi0At, avg
	}
	s.Overdue, s.Silent, s.Watched = ml.overdue, ml.silent, ml.watched
	s.Stalled = ml.stallAt > st.lookedAt
	st.lookedAt = now
}

// overdue reports whether the worker is past its deadline without a beat
// the monitor has seen or could see now (a read of its lane), and whether
// it is silent: without a beat for half its timeout. A parked spare, which
// does not beat, is neither.
func (st *hangState) overdue(now int64) (overdue, silent bool) {
	if st.parked || now-st.progress < st.policy.Timeout/2 {
		return false, false
	}
	count, _ := st.p.lane.Heartbeat()
	if count != st.lastCount {
		return false, false
	}
	return now >= st.policy.Deadline(st.progress, st.ready), true
}

// exact reports whether the worker's CPU is read exactly (threadProbe).
func (st *hangState) exact() bool { return st.probe != nil && st.probe.exact }

// check returns when to look at the worker next, or that it is hung.
func (st *hangState) check(now int64, ml *machineLook) (next int64, hung bool) {
	timeout := st.policy.Timeout
	if st.p.reason.Load() != reasonNone || st.p.note.stoppingOnItsOwn() {
		return now + timeout, false // being stopped: not ours to judge
	}
	seen, bad := st.p.segment.controlCorrupt()
	if bad && st.p.segment.cfg.Lanes == 1 {
		// Nobody else maps a segment of one lane: the worker wrote its
		// control word. (In a group the word may hold a spare's own
		// promotion, which the group judges.)
		st.corrupt, st.corruptWord = true, seen
		st.clear()
		return 0, true
	}
	if st.ctlWord != nil {
		st.ctlAuth = seen // sound, with one lane: the supervisor's own word
	}
	if st.p.segment.primaryLane() != st.p.lane.Index() {
		// A parked spare does not beat; its clock starts when it is
		// promoted, and whoever promotes it makes the monitor look
		// (Segment.promote), so its watchdog can sleep till then.
		st.progress, st.parked = now, true
		st.clear()
		if st.dog >= 0 {
			return 0, false
		}
		return now + timeout, false
	}
	if st.parked {
		// Promoted since the last look: its clock starts at its first beat
		// as the primary (WaitActive beats), or now.
		st.parked = false
		if !st.observe(now) {
			st.progress = now
		}
	} else {
		st.observe(now)
	}
	if now < st.watchAt() {
		return st.watchAt(), false
	}
	if !st.suspect {
		// The watch opens a lead before the deadline, so that the window
		// in which the monitor sees what the worker does ends at the
		// deadline. Reading the scheduler's accounting takes time (opening
		// the probe, a few hundred microseconds), during which this thread
		// may itself be descheduled: look at the heartbeat once more.
		if now-st.watchAt() > stallMin {
			// The monitor woke late to this worker's watchdog: the
			// machine stalled, the worker's silence with it.
			ml.stallAt = now
			st.heldAt, st.machineAt = now, now
		}
		st.probe = openProbe(st.p.pid)
		s := st.sample()
		if st.cpuLook == nil {
			st.cpuLook = new(cpuLook)
		}
		st.cpuLook.open(&s.cpus) // for the verdict, should it be asleep
		sampled := mono.Now()
		if st.observe(sampled) {
			return st.watchAt(), false
		}
		st.suspect, st.suspectAt, st.tickLooked = true, sampled, false
		st.run0, st.waitLast = s.run, s.wait
		st.cpuStart, st.cpuOK, st.cpu0, st.cpu0At = s.cpu, s.cpuOK, s.cpu, sampled
		st.psi0, _, st.psiOK = ml.cpuPressure()
		st.psi0At, st.lookedAt = sampled, sampled
		v := hang.Judge(st.policy, hang.Sample{
			Opening:  true,
			Now:      sampled,
			Progress: st.progress,
			Due:      st.watchAt(),
			Late:     now - st.watchAt(),
			Ready:    st.ready,
			Dead:     s.dead,
		})
		st.confirmAt = v.At
		return st.confirmAt, false
	}
	if now < st.confirmAt {
		return st.confirmAt, false
	}
	s := st.sample()
	now = mono.Now()
	if st.observe(now) {
		return st.watchAt(), false
	}
	waited := s.wait - st.waitLast
	st.waitLast = s.wait
	hs := hang.Sample{
		Now:        now,
		Progress:   st.progress,
		Due:        st.confirmAt,
		SuspectAt:  st.suspectAt,
		Runnable:   s.runnable,
		InKernel:   s.inKernel,
		CPUOK:      s.cpuOK && st.cpuOK,
		Exact:      st.exact(),
		Ran:        s.cpu - st.cpu0,
		Elapsed:    now - st.cpu0At,
		RanSince:   s.cpu - st.cpuStart,
		RunSince:   s.run - st.run0,
		Waited:     waited,
		Nonstop:    s.nonstop,
		NonstopOK:  s.nonstopOK,
		Busy:       ml.busy(),
		TickLooked: st.tickLooked,
		Dead:       s.dead,
		Stopped:    s.stopped,
		Ready:      st.ready,
		HeldAt:     st.heldAt,
		MachineAt:  st.machineAt,
	}
	st.machine(&hs, ml, now)
	v := hang.Judge(st.policy, hs)
	if v.Step == hang.Hung && v.Kind == hang.Asleep && !s.stopped && st.cpuLook != nil && st.cpuLook.stalled() {
		// A CPU that holds its threads' timers ran nothing of ours: the
		// host stopped it (cpulive_linux.go). The silence is the
		// machine's, as in a stall the monitor saw itself, and the worker
		// is granted a Timeout from now.
		ml.stallAt = now
		st.heldAt, st.machineAt = now, now
		st.cpuLook.open(&s.cpus)
		st.confirmAt = now + max(st.policy.HeldUpWindow, st.policy.BusyWindow)
		return st.confirmAt, false
	}
	if v.Step != hang.Hung && st.cpuLook != nil && now-st.cpuLook.at >= int64(cpuLiveWithin) {
		// A watch held up for long asks again, so that a verdict judges
		// the CPUs' last moments; a short one judges from its opening,
		// which a live CPU has answered long before.
		st.cpuLook.open(&s.cpus)
	}
	switch v.Step {
	case hang.Hung:
		st.kind = hangKind(v.Kind)
		st.clear()
		return 0, true
	case hang.Starved:
		st.starved += v.Starved
		st.cpu0, st.cpu0At = s.cpu, now
		st.heldAt = max(now, v.HeldTo)
		if hang.MachineHolds(st.policy, hs) {
			st.machineAt = now
		}
	}
	st.tickLooked = st.tickLooked || v.TickLook
	st.confirmAt = v.At
	return st.confirmAt, false
}

// watchAt is when the watch of a worker that has not beaten since its last
// observed progress starts: a lead before its deadline.
func (st *hangState) watchAt() int64 {
	return st.policy.Deadline(st.progress, st.ready) - st.lead
}

// processDying reports whether every thread of the process is a zombie,
// gone, or exiting: a process that is dying is not hung, whatever its last
// look saw. It reads no more than probeThreadsMax threads, the first its
// /proc lists, and stops at the first live one: a process whose threads
// read are all dying is taken for dying.
func processDying(pid int) bool {
	dying, read := true, 0
	if !linux.EachTask(pid, func(tid int) {
		if !dying || read >= probeThreadsMax {
			return
		}
		read++
		if t, _ := linux.ReadTaskStat(pid, tid); !taskDying(t) {
			dying = false
		}
	}) {
		return true // its /proc is gone
	}
	return dying
}

// startGrace is how long a worker is young after Ready: its deadline is no
// earlier than a timeout after it. A new process makes its threads and
// takes its first page faults, often amid other starts.
const startGrace = 100 * time.Millisecond

// heldUpMax is the longest silence granted a worker the machine holds up
// (many workers overdue at once, the monitor's own late wakes): ten
// timeouts, at least 30 s. Past it the worker is hung, held up.
func heldUpMax(timeout time.Duration) time.Duration { return max(10*timeout, 30*time.Second) }

// heldUpSpread spaces the looks at the workers the machine holds up
// (hang.Policy.HeldUpSpread): about 500 full looks a second in all,
// however many workers are late. A full look reads the worker's threads in
// /proc on the monitor's raised thread, taking a CPU from the workers, the
// one a stop waits on among them; at one look per worker every
// HeldUpWindow, 500 late workers at a 100 ms timeout cost 10,000 a second.
const heldUpSpread = 2 * time.Millisecond

// hangKind is the HangError.Kind of a verdict's kind.
func hangKind(k hang.Kind) string {
	switch k {
	case hang.Spinning:
		return hangSpinning
	case hang.HeldUp:
		return hangHeldUp
	}
	return hangAsleep
}

// hung reports a confirmed hang, or the violation the look found, and
// kills the worker's group.
func (p *Process) hung(st *hangState, now int64) {
	if st.corrupt {
		p.violate("control word", controlWord(st.corruptWord), controlWord(p.segment.ctl.Load())+", the only lane")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped || processDying(p.pid) {
		return // it died on its own first: Exited tells
	}
	if !p.reason.CompareAndSwap(reasonNone, reasonHung) {
		return // already being stopped, or hung by its own word (WATCHDOG=trigger)
	}
	err := &HangError{
		Name:    p.name,
		Pid:     p.pid,
		Silence: time.Duration(now - st.progress),
		Timeout: time.Duration(st.policy.Timeout),
		Starved: time.Duration(st.starved),
		Kind:    st.kind,
	}
	p.emit(Hung{Pid: p.pid, Time: mono.Time(now), Err: err})
	p.signalGroupLocked(sigKill)
}

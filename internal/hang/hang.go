// Package hang is the verdict on a worker that has gone silent past its
// deadline: hung, or only held up, or not judged yet. Two watchdogs call
// it: procbridge's hang monitor, on a worker that stopped beating, and the
// audio engine's in-cycle watchdog, on a node that has not finished its
// block. Each looks at the worker's threads (their state, their CPU, their
// time waiting for a CPU), fills in a Sample, and does what Judge says.
// Judge is a pure function: the watchdogs keep the state and take the
// readings.
//
// The contract, for a worker that shows no progress (the watchdog checks
// for progress before it asks):
//
//   - The look that opens a watch judges nothing: it sets when the next
//     look comes, at the deadline at the earliest, and never less than
//     half a window after the readings. A watcher that came late by more
//     than a busy machine's window had been kept from a CPU, and so,
//     likely, had the worker: the first window is as long as that delay,
//     up to the cap, so that a silence the watcher could not watch is not
//     held against the worker.
//   - Spinning: it ran at least half of the window since the last reading
//     (and a quarter of a window in all), or a whole Interval of CPU since
//     the watch opened. A loop that gets a CPU makes progress within its
//     loop's time, so this is a hang on a busy machine as on an idle one.
//     (While the machine holds the worker up, below, only the whole
//     Interval counts: half of a short window is as often the runtime's
//     own threads running in a slice its loop did not get.)
//     So is a thread in SCHED_FIFO at its expected priority that is in
//     the kernel or runnable: nothing of normal priority keeps it off a
//     CPU, so past its deadline it overruns. Where the watchdog probes
//     the runnable thread's CPU (Probed), the probe alone says: it spins
//     when it was on its CPU at the look, and had been for a quarter of a
//     window since its time on a CPU was last brought up to date
//     (ProbeRan). One held off its CPU is held up, below: queued behind
//     work of a higher priority (its CPU time did not move), or on a CPU
//     that ran nothing of the watchdog's in time (a host holding a
//     virtual CPU for a millisecond or two); so is one that got its CPU
//     back only just before the look. Where each thread's voluntary
//     sleeps can be read (NonstopOK), the CPU that counts is one
//     thread's that never slept (Nonstop): a loop that spins never
//     sleeps, while the CPU of a worker the machine keeps from its loop
//     goes to threads that wake and sleep (a Go runtime's monitor thread,
//     woken every 20 µs to 10 ms, takes milliseconds of CPU over a starved
//     watch while the loop waits for a CPU).
//   - Held up (Starved): a thread blocked in the kernel (a page fault on a
//     slow disk, memory reclaim), or one runnable or that waited on a run
//     queue while the machine is busy (or the CPU reading is exact, so a
//     spinner would have shown): that is the machine's doing, not the
//     loop's, and the worker is looked at again, a window later (a busy
//     machine's window, long enough for the kernel's accounting to move,
//     once past the first tick), until its silence reaches the cap; then
//     it is hung, held up.
//   - A runnable worker on an idle machine whose CPU is read through a
//     clock that moves at the scheduler's tick gets one look a tick later,
//     for a spinner's CPU to show, before anything else is concluded.
//   - Asleep: no thread runnable or in the kernel, not held up; hung once
//     the deadline and the Grace past it have passed (the Grace is for a
//     loop whose sleep ran long: the same evidence, judged later).
//
// What is never a hang:
//
//   - A dead worker (its leader a zombie, or gone, not yet reaped): it is
//     dying, and its reaper reports how it ended.
//   - A young worker, in its first StartGrace after it became ready: its
//     deadline is no earlier than a Timeout after that (a new process makes
//     its threads, takes its first page faults, and often starts amid
//     other starts).
//   - A worker held up while the whole machine is. Under CPU pressure (the
//     kernel's pressure information says tasks waited for a CPU for at
//     least a quarter of the watch and of its last 10 s, PressureShare) it
//     is looked at again every HeldUpWindow until its silence reaches the
//     Cap. On a saturated machine (many workers overdue at once,
//     ManyOverdue, or CPU pressure while the worker itself is runnable or
//     waited for a CPU) or a stalled one, until its silence reaches
//     HeldUpMax. Then it is hung, held up: the last look comes when the
//     silence reaches its limit, not a window past it. While many workers
//     are silent or overdue, each is looked at less often, as many
//     HeldUpSpreads apart as they are, so that the looks at all of them
//     together stay about one per HeldUpSpread (Policy.HeldUpSpread). The
//     machine is then taken to hold it up until a HeldUpWindow before the
//     look put off (Verdict.HeldTo), as a look every HeldUpWindow would
//     have found. A stalled machine is one whose
//     timers fired late: the watchdog itself woke late since its last look,
//     or the workers stopped beating together (StalledTogether: a stall of
//     the host stops every worker on the CPUs it did not run, with every
//     thread asleep and no trace in the machine's own pressure account,
//     where a hang stops one). Once held up, a worker asleep is granted a
//     Timeout past the last look that found it held up: the silence while
//     the machine held it is not counted against it. So a worker that
//     stopped beating is killed at most HeldUpMax after its last beat; a
//     spinning one once it has run an Interval, and one stopped by a signal
//     (SIGSTOP, a debugger) at once.
//
// What it cannot tell: a worker whose own loop did not run, while the
// machine was idle, looks from outside exactly like a hung one; so does a
// worker alone on a CPU the host did not run, while the others beat (the
// hang monitor asks such a CPU to run a thread of its own before it calls
// a worker asleep, and takes one that does not for a stall). And
// three or more workers, half of those watched, that hang asleep at once
// look like a stall: they are killed at HeldUpMax. A young
// worker whose 2 ms sleep ran 6 ms long, every thread asleep, is called
// asleep; one whose sleep ran long while its runtime's other threads ran
// half the window is called spinning. A SCHED_FIFO thread whose loop ran
// a quarter of a window after a tick and then stopped on a CPU the host
// held, and is looked at the moment the host lets it go, is called
// spinning. The table tests name every such
// case known, beside every real hang.
package hang

import "time"

// SchedTick is the scheduler's tick at HZ=250, the usual kernel
// configuration: the kernel's accounting of a thread that stays on a CPU
// moves at most this long after it began to run.
const SchedTick = int64(4 * time.Millisecond)

// Step is what the watchdog does after a look.
type Step int

const (
	// Look: nothing is concluded yet; look again at Verdict.At.
	Look Step = iota
	// Starved: the worker is held up; look again at Verdict.At, over a new
	// window that starts with this look's readings.
	Starved
	// Hung: the worker is hung, Verdict.Kind says how. The hang monitor
	// kills it; the in-cycle watchdog fences it (its spare takes over).
	Hung
)

// Kind is what a hung worker looked like.
type Kind int

const (
	// Asleep: no thread runnable or in the kernel, and no CPU to show for
	// the window: it waits for something that does not come, it is
	// stopped, or it is gone.
	Asleep Kind = iota + 1
	// Spinning: it ran through the window without progress, or it
	// overruns in SCHED_FIFO (on its CPU, or in the kernel).
	Spinning
	// HeldUp: it was kept from running past the cap of silence.
	HeldUp
)

// Policy is what a watchdog grants a worker, fixed for the worker's life.
// Times are in nanoseconds.
type Policy struct {
	Timeout  int64 // the silence after the last progress that makes the deadline
	Interval int64 // a whole Interval of CPU since the watch opened is a spinner; 0: no such rule
	Window   int64 // how long a look watches the worker
	// BusyWindow is how long a look watches a held-up worker on a busy
	// machine.
	BusyWindow int64
	Cap        int64 // the longest silence a held-up worker is granted
	// Grace is how long past the deadline a worker with nothing runnable
	// is given before it is called asleep.
	Grace int64
	// Tick is how late a running thread's CPU may show through a reading
	// that is not exact (the scheduler's tick): the wait of the tick look,
	// and how long a held-up worker read exactly is looked at every
	// Window. 0: no tick look.
	Tick int64
	// StartGrace is added to the deadline of a worker not yet seen to beat
	// since it became ready. 0: none.
	StartGrace int64
	// HeldUpWindow is how often a worker held up by the machine is looked
	// at; HeldUpMax is the longest silence it is granted. HeldUpMax 0: the
	// machine's state is not asked (the rule is off).
	HeldUpWindow int64
	HeldUpMax    int64
	// HeldUpSpread spaces the looks at workers the machine holds up, so
	// that the watchdog's looks at all of them together come about one per
	// HeldUpSpread, however many they are: while n workers are silent or
	// overdue (the Sample's Silent, Overdue) and n HeldUpSpreads are more
	// than a HeldUpWindow, each is looked at n HeldUpSpreads later, on the
	// next multiple of HeldUpWindow (so that one wake serves many), and
	// never later than its silence's limit. 0: every HeldUpWindow.
	HeldUpSpread int64
}

// PressureShare is the share of a watch, in percent, during which tasks
// waited for a CPU (the kernel's pressure-stall information, "some") that
// makes the machine saturated.
const PressureShare = 25

// ManyOverdue reports whether overdue workers out of watched are many: at
// least 4, and at least one in twenty. One or two late workers is what a
// hang looks like; many at once is the machine.
func ManyOverdue(overdue, watched int) bool { return overdue >= max(4, watched/20) }

// StalledTogether reports whether silent workers out of watched say that
// the machine, not the worker, stopped: at least three (this one and two
// others) and at least half of those watched have gone without a beat for
// half their timeout at once. A machine stall (the host did not run the
// machine's CPUs, or not the one that holds the workers' timers) stops
// every worker on it at the same instant, with every thread asleep and no
// trace in the machine's own pressure account; a hang stops one.
func StalledTogether(silent, watched int) bool { return silent >= 3 && 2*silent >= watched }

// Deadline is when a worker whose last progress was at progress, and
// which became ready at ready, is due: a Timeout after its progress, and
// not before a Timeout after its first StartGrace.
func (p Policy) Deadline(progress, ready int64) int64 {
	d := progress + p.Timeout
	if p.StartGrace > 0 {
		d = max(d, ready+p.StartGrace+p.Timeout)
	}
	return d
}

// Sample is what one look saw. Times are CLOCK_MONOTONIC nanoseconds.
type Sample struct {
	// Opening says the look opens the watch: the first look at a worker
	// that has not made progress for a while, which takes the readings
	// later looks are measured against.
	Opening bool

	Now       int64 // when the readings were taken
	Progress  int64 // the last progress seen (a beat, a wake); the deadline is Progress + Policy.Timeout
	Due       int64 // when this look was due
	Late      int64 // how long after Due the look began: the watchdog's own delay
	SuspectAt int64 // when the watch opened

	Runnable bool // a thread is runnable (running or waiting for a CPU)
	InKernel bool // a thread is blocked in the kernel (state D)
	FIFO     bool // the thread is in SCHED_FIFO at the priority expected of it
	// A probe of a SCHED_FIFO thread runnable at the look (Probed): a
	// thread of the watchdog's, raised above it, made to run on the CPU
	// the thread is on. Preempting a running thread brings its time on a
	// CPU up to date, which otherwise moves only at the scheduler's tick
	// and when it leaves the CPU: ProbeRan, its time on a CPU across the
	// probe, is what it ran since then (since its wake, for a thread that
	// ran from its wake to the look: the time since the wake, for a loop
	// that overruns), and 0 for one held off it: queued behind work of a
	// higher priority, queued on the watchdog's own CPU, or on a CPU that
	// ran nothing in time (the host did not run it, or work above the
	// watchdog holds it).
	Probed   bool
	ProbeRan int64

	CPUOK    bool  // the CPU readings of this look and the window's start could be read
	Exact    bool  // the CPU readings are exact (task clocks), not moved at the tick
	Ran      int64 // CPU used since the window's reading
	Elapsed  int64 // time since the window's reading
	RanSince int64 // CPU used since the watch opened
	RunSince int64 // time on a CPU since the watch opened, as the scheduler accounts it at its tick
	Waited   int64 // time spent waiting on a run queue since the last look
	// Nonstop is the most CPU one thread has had since the watch opened
	// without going to sleep of its own accord (a voluntary context
	// switch), as the looks saw; NonstopOK says it could be read of every
	// thread. A spinning loop never sleeps; the CPU of a worker kept from
	// its loop goes to threads that wake and sleep (a runtime's own: its
	// monitor, its poller).
	Nonstop   int64
	NonstopOK bool

	Busy       bool // more tasks runnable than CPUs, or the caller cannot tell
	TickLooked bool // the tick look was granted already

	Dead    bool  // the worker's leader is dead (a zombie, or gone) and not yet reaped
	Stopped bool  // a thread is stopped by a signal or traced (state T or t)
	Ready   int64 // when the worker became ready: in its first StartGrace it is young

	// The machine, asked only when Policy.HeldUpMax is set.
	Pressure     int64 // ns in which tasks waited for a CPU (PSI "some" total), over PressureOver
	PressureOver int64 // ns since the pressure's first reading (the watch's opening)
	PressureAvg  int   // the kernel's 10 s average of the same, in percent: a burst in a short watch on an idle machine is not pressure
	Overdue      int   // workers past their deadline at this look, this one included
	Silent       int   // workers without a beat for half their timeout at this look, this one included
	Watched      int   // workers watched
	Stalled      bool  // the watchdog woke more than a scheduler tick late since its last look
	// HeldAt is the last look that found the worker held up (Starved), or
	// the HeldTo that look returned, 0 if none: the silence up to it was
	// the machine's, and a worker asleep after it is granted a Timeout
	// from it before it is called asleep.
	HeldAt int64
	// MachineAt is the last look that found the machine itself holding
	// the worker up (MachineHolds, or the monitor woken late), 0 if none
	// since its last progress.
	MachineAt int64
}

// Verdict is what to do after a look.
type Verdict struct {
	Step Step
	At   int64 // Look, Starved: when to look next
	Kind Kind  // Hung: how
	// Starved (Starved) is the time this look counts as held up.
	Starved int64
	// TickLook (Look) says the next look is the tick look.
	TickLook bool
	// HeldTo (Starved), when the next look is put off past a HeldUpWindow
	// (Policy.HeldUpSpread), is a HeldUpWindow before it: the machine is
	// taken to hold the worker up until then, as a look every HeldUpWindow
	// would have found, and the watchdog passes it as the next Sample's
	// HeldAt. 0 otherwise: HeldAt is this look.
	HeldTo int64
}

// Judge returns what to do after the look s, under p.
func Judge(p Policy, s Sample) Verdict {
	deadline := p.Deadline(s.Progress, s.Ready)
	if s.Dead {
		// Dying, not hung: its reaper reports the end. Look again, should
		// the reaper be slow.
		return Verdict{Step: Look, At: s.Now + max(p.BusyWindow, p.HeldUpWindow)}
	}
	if s.Opening {
		first := p.Window
		if s.Late > p.BusyWindow {
			first = min(s.Late, p.Cap)
		}
		return Verdict{Step: Look, At: max(deadline, s.Due+s.Late+first, s.Now+p.Window/2)}
	}
	if p.StartGrace > 0 && s.Now < deadline {
		// A look set before the worker's start grace was known to move
		// its deadline: never judged before the deadline.
		return Verdict{Step: Look, At: deadline}
	}
	heldUp := s.InKernel || (s.Runnable || s.Waited > 0) && (s.Busy || s.Exact)
	saturated, pressed := machineHold(p, s, deadline)
	machine := saturated || pressed
	// Spinning: half the window on a CPU, or a whole Interval since the
	// watch opened. While the machine holds the worker up, only the
	// Interval: half of a short window is as often the runtime's own
	// threads (a young process's collector, its page faults) running in a
	// slice the beating loop did not get, and a loop that spins shows its
	// Interval of CPU within a few held-up windows.
	ranHalf := s.Ran >= p.Window/4 && 2*s.Ran >= s.Elapsed && !machine
	spinning := p.Interval > 0 && s.RunSince >= p.Interval ||
		s.CPUOK && (p.Interval > 0 && s.RanSince >= p.Interval || ranHalf)
	if s.NonstopOK {
		// The CPU must be one thread's that never slept: a spinning loop.
		spinning = spinning && (p.Interval > 0 && s.Nonstop >= p.Interval ||
			ranHalf && s.Nonstop >= p.Window/4)
	}
	if s.Probed {
		// The probe's reading is exact where the window's is not (a
		// thread on a CPU the host stopped shows its time only once the
		// CPU runs again, in whichever window that is): it spins when it
		// has been on its CPU for a quarter of a window since its time
		// was last brought up to date (at its wake, at the last probe's
		// preemption, at a tick, or when the scheduler last looked at its
		// CPU: an overrun shows 30-800 µs at its first look past a 667 µs
		// watchdog). One held off it, or that got its CPU back only just
		// now, is held up like any runnable thread.
		spinning = s.ProbeRan >= p.Window/4
	}
	limit := p.Cap
	if saturated {
		limit = max(p.HeldUpMax, p.Cap)
	}
	switch {
	case s.FIFO && (s.InKernel || s.Runnable && !s.Probed), spinning:
		return Verdict{Step: Hung, Kind: Spinning}
	case machine && s.Now-s.Progress < limit:
		at := min(heldUpLook(p, s), s.Progress+limit)
		v := Verdict{Step: Starved, At: at, Starved: max(s.Waited, at-s.Due)}
		if step := max(p.HeldUpWindow, p.BusyWindow); at-step > s.Now {
			v.HeldTo = at - step
		}
		return v
	case machine:
		return Verdict{Step: Hung, Kind: HeldUp}
	case heldUp && s.Now-heldSince(p, s) < p.Cap:
		step := p.Window
		if s.Busy {
			step = p.BusyWindow
		}
		if s.Exact && s.Now-s.SuspectAt < p.Tick {
			step = p.Window // a spinner that shares a CPU may yet show
		}
		return Verdict{Step: Starved, At: s.Now + step, Starved: max(s.Waited, s.Now-s.Due+step)}
	case heldUp:
		return Verdict{Step: Hung, Kind: HeldUp}
	case p.Tick > 0 && s.Runnable && !s.TickLooked:
		return Verdict{Step: Look, At: s.Now + p.Tick, TickLook: true}
	case s.Now < asleepAt(p, s, deadline):
		return Verdict{Step: Look, At: asleepAt(p, s, deadline)}
	}
	return Verdict{Step: Hung, Kind: Asleep}
}

// machineHold says whether the machine holds the worker up: saturated
// (many overdue, or CPU pressure while the worker itself waits for a CPU)
// or stalled, which holds it up to HeldUpMax; pressed, under CPU pressure
// alone, up to the Cap.
func machineHold(p Policy, s Sample, deadline int64) (saturated, pressed bool) {
	asked := p.HeldUpMax > 0 && !s.Stopped && s.Now >= deadline
	pressed = asked && s.Pressure > 0 && 100*s.Pressure >= PressureShare*s.PressureOver &&
		s.PressureAvg >= PressureShare
	stalled := asked && (s.Stalled || StalledTogether(s.Silent, s.Watched))
	saturated = asked && ManyOverdue(s.Overdue, s.Watched) || stalled ||
		pressed && (s.Runnable || s.Waited > 0)
	return saturated, pressed
}

// MachineHolds reports whether, at the look s, the machine itself holds
// the worker up (see Judge): the monitor records such a look as the
// Sample's MachineAt.
func MachineHolds(p Policy, s Sample) bool {
	saturated, pressed := machineHold(p, s, p.Deadline(s.Progress, s.Ready))
	return saturated || pressed
}

// heldUpLook is when to look again at a worker the machine holds up: a
// HeldUpWindow (or a busy machine's window, if longer) after this look, or,
// while more workers are silent or overdue than fit in a HeldUpWindow at one
// look per HeldUpSpread, as many HeldUpSpreads later, rounded up to a
// multiple of HeldUpWindow.
func heldUpLook(p Policy, s Sample) int64 {
	step := max(p.HeldUpWindow, p.BusyWindow)
	spread := int64(max(s.Overdue, s.Silent)) * p.HeldUpSpread
	if spread <= step || p.HeldUpWindow <= 0 {
		return s.Now + step
	}
	at := s.Now + spread
	return at + (p.HeldUpWindow-at%p.HeldUpWindow)%p.HeldUpWindow
}

// heldSince is when the silence a worker that waits for a CPU (or in the
// kernel) is held to the Cap began: its last progress, or, once the
// machine itself has held it up, the last look that found it so (the
// silence while the machine held it is not counted against it), while its
// silence is under HeldUpMax.
func heldSince(p Policy, s Sample) int64 {
	if s.MachineAt > 0 && p.HeldUpMax > 0 && s.Now-s.Progress < max(p.HeldUpMax, p.Cap) {
		return max(s.Progress, s.MachineAt)
	}
	return s.Progress
}

// asleepAt is when a worker with nothing runnable is called asleep: the
// Grace past its deadline, and, once the machine has held it up, not
// before a Timeout past the last look that found it held up (the silence
// while the machine held it is not counted against it), yet never later
// than HeldUpMax after its last progress.
func asleepAt(p Policy, s Sample, deadline int64) int64 {
	at := deadline
	if s.HeldAt > 0 && p.HeldUpMax > 0 {
		at = max(at, min(s.HeldAt+p.Timeout, s.Progress+max(p.HeldUpMax, p.Cap)))
	}
	return at + p.Grace
}

//go:build linux

package procbridge

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// The hang monitor: one goroutine, on a raised thread (raisedThread),
// watches the heartbeats of every process that has one, and it does not
// exist at all while none has.
//
// It wakes only when a worker may miss its deadline. Each worker gets a
// watchdog: a timerfd that the worker itself re-arms as it beats
// (worker.Beat), to expire shortly before its deadline (its last beat plus
// its timeout, less shm.WatchdogLead). The monitor sleeps on an epoll set
// of every watchdog and a timer of its own, so while workers beat it never
// wakes: the kernel keeps their deadlines. (A worker that does not re-arm
// its watchdog, one not built on this package's SDK, gets the same
// verdicts: the monitor re-arms the watchdog to the deadline it reads
// whenever it fires, as a monitor that polls would.)
//
// A worker near its deadline is suspect, not hung: on a loaded machine it
// may simply be waiting for a CPU. The monitor watches its threads up to
// the deadline and judges there, never before (threadProbe: their state,
// their time waiting for a CPU, and their CPU time, exactly where perf
// events allow). One that ran through the watch without beating spins:
// hung. One with no runnable thread is asleep or stopped: hung, a window
// past the deadline. Otherwise it looks again after a short window, on its
// own timer: a worker that spent the window waiting on a run queue (or
// blocked in the kernel), and got less CPU than one heartbeat interval
// since it became suspect, is held up, not hung, and gets another window,
// up to a cap of silence.
var monitor hangMonitor

// noWatchdog, set by tests and benchmarks, starts workers without a
// watchdog, so the monitor keeps their deadlines on its own timer.
var noWatchdog atomic.Bool

type hangMonitor struct {
	wakes   atomic.Int64 // times the loop woke (tests count them)
	mu      sync.Mutex
	watch   map[*Process]*hangState
	dogs    map[int]*hangState // the watchdogs in the epoll set, by descriptor
	running bool
	timer   int // the monitor's own timerfd: confirmation windows, workers without a watchdog
	ep      int // an epoll set of the timer and the watchdogs
}

type hangState struct {
	p          *Process
	dog        int   // the worker's watchdog timerfd, or -1 (the monitor's timer serves)
	dogAt      int64 // the deadline the monitor last set on the watchdog
	timeout    int64
	interval   int64
	window     int64
	lead       int64 // the watch starts this long before the deadline
	cap        int64
	lastCount  uint64
	progress   int64 // mono ns of the last observed progress
	parked     bool  // a spare, parked at the last look
	suspect    bool
	suspectAt  int64 // mono ns when it became suspect
	tickLooked bool  // gave a runnable suspect, whose CPU had not shown, a tick more
	confirmAt  int64
	run0       int64        // CPU ns when it became suspect (schedstat, per tick)
	probe      *threadProbe // its threads, watched while suspect, or nil
	cpuStart   int64        // CPU ns when it became suspect (cpu)
	cpuOK      bool         // cpuStart could be read
	cpu0       int64        // CPU ns at the start of the window (cpu)
	cpu0At     int64        // mono ns when cpu0 was read
	waitLast   int64        // run-queue wait ns at the last look
	starved    int64
	kind       HangKind // what the last look saw, once hung
}

func (m *hangMonitor) add(p *Process) {
	hb := p.spec.Heartbeat
	st := &hangState{
		p:        p,
		dog:      -1,
		timeout:  int64(hb.Timeout),
		interval: int64(hb.Interval),
		progress: p.readyMono.Load(),
	}
	st.window = shm.HangWindow(st.interval)
	st.lead = shm.WatchdogLead(st.interval, st.timeout)
	st.cap = max(10*st.timeout, int64(250*time.Millisecond))
	st.lastCount, _ = p.lane.Heartbeat()
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.os.reaped {
		return // already gone: nothing to watch
	}
	if !m.running {
		if err := m.start(); err != nil {
			return // no timerfd or epoll (Linux < 2.6.25): heartbeats go unwatched
		}
	}
	if m.watch == nil {
		m.watch = map[*Process]*hangState{}
		m.dogs = map[int]*hangState{}
	}
	if fd := p.os.dog; fd >= 0 {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if m.ctl(unix.EPOLL_CTL_ADD, fd, &ev) == nil {
			st.dog = fd
			m.dogs[fd] = st
		}
	}
	m.watch[p] = st
	m.poke()
}

// start creates the monitor's timer and epoll set and its goroutine (m.mu
// held).
func (m *hangMonitor) start() error {
	timer, err := linux.NewTimer()
	if err != nil {
		return err
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		unix.Close(timer)
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(timer)}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, timer, &ev); err != nil {
		unix.Close(ep)
		unix.Close(timer)
		return err
	}
	m.timer, m.ep = timer, ep
	m.running = true
	linux.KeepTaskClocks()
	go m.run(ep)
	return nil
}

func (m *hangMonitor) ctl(op, fd int, ev *unix.EpollEvent) error {
	return unix.EpollCtl(m.ep, op, fd, ev)
}

// poke makes the monitor look now (m.mu held): the timer expires at once.
func (m *hangMonitor) poke() { linux.SetTimer(m.timer, 1) }

// lookForHangs makes the hang monitor look at every worker now: a spare was
// promoted.
func lookForHangs() { monitor.look() }

func (m *hangMonitor) look() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running {
		m.poke()
	}
}

// remove stops watching p and closes its watchdog. The reaper calls it for
// every process, watched or not.
func (m *hangMonitor) remove(p *Process) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p.os.reaped = true
	if st, ok := m.dogs[p.os.dog]; ok && st.p == p {
		m.ctl(unix.EPOLL_CTL_DEL, p.os.dog, nil)
		delete(m.dogs, p.os.dog)
	}
	p.closeDog()
	st, ok := m.watch[p]
	if !ok {
		return
	}
	st.clear()
	delete(m.watch, p)
	m.poke()
}

// run is the monitor's loop. It sleeps on the epoll set until a watchdog or
// its own timer expires, looks at every worker, and sets each watchdog and
// its own timer for the next look. It runs on a raised thread (promptThread)
// without being locked to it (raisedThread).
func (m *hangMonitor) run(ep int) {
	var thread raisedThread
	defer thread.release()
	var hung []*hangState
	var ready []int32
	for {
		thread.keep()
		m.mu.Lock()
		for _, fd := range ready {
			// Drain what expired, if it is still ours: a worker's watchdog
			// may have been closed since, and its number reused.
			st, ok := m.dogs[int(fd)]
			if ok || int(fd) == m.timer {
				linux.DrainTimer(int(fd))
			}
			if ok {
				// It fired, so it is disarmed: whatever the deadline now,
				// set it again. (A beat from another goroutine of the
				// worker may have set it earlier than the monitor had.)
				st.dogAt = -1
			}
		}
		if len(m.watch) == 0 {
			m.running = false
			linux.ReleaseTaskClocks()
			unix.Close(m.timer)
			unix.Close(ep)
			m.timer, m.ep = -1, -1
			m.mu.Unlock()
			return
		}
		now := mono.Now()
		next := int64(1<<63 - 1)
		watching := false
		hung = hung[:0]
		for p, st := range m.watch {
			at, isHung := st.check(now)
			switch {
			case isHung:
				hung = append(hung, st)
				delete(m.watch, p)
			case st.dog >= 0 && !st.suspect:
				// Healthy (or parked: at 0 disarms): the watchdog keeps the
				// deadline, and the worker moves it on as it beats.
				if at != st.dogAt {
					linux.SetTimer(st.dog, at)
					st.dogAt = at
				}
			default:
				next = min(next, at)
				watching = watching || st.suspect
			}
		}
		if next == 1<<63-1 {
			linux.SetTimer(m.timer, 0) // every worker's watchdog keeps its deadline
		} else {
			linux.SetTimer(m.timer, max(next, 1))
		}
		// While a suspect is watched, wait for its next look holding the
		// P (rawWaitMax).
		raw := watching && next-mono.Now() <= rawWaitMax && rawWaitOK()
		m.mu.Unlock()
		for _, st := range hung {
			st.p.hung(st, mono.Now())
		}
		if len(hung) > 0 {
			ready = ready[:0]
			continue // go round: perhaps to exit
		}
		thread.keep()
		var err error
		if ready, err = linux.EpollWait(ep, ready[:0], raw, idleWaitMax); err != nil {
			return // the set was closed under us: cannot happen while watching
		}
		m.wakes.Add(1)
	}
}

// raisedThread keeps the hang monitor's goroutine on a raised thread
// without locking the goroutine to it.
//
// A goroutine locked to its thread that the Go scheduler preempts, or that
// finds no free P when it returns from a system call, waits until another
// thread hands it a P back, and that thread is an ordinary one, which may
// wait for a CPU behind the very spinner being watched: a scheduler slice,
// milliseconds. And the runtime does preempt the monitor: its own monitor
// thread (sysmon) preempts a goroutine that resumed from a long sleep on a
// P whose time slice it deems 10 ms old, which is how an idle program's P
// looks, within tens of microseconds of the wake. An unlocked goroutine
// that is preempted goes on at once on the same thread, as a rule. (With
// the goroutine locked, 1% of spinning hangs were noticed 1 to 3 ms late;
// unlocked, the p99 is under 300 us: docs/benchmarks.md.)
//
// So the monitor raises whatever thread it finds itself on, before and
// after each wait, and gives the thread it leaves its scheduling back. A
// thread it left raised may run other goroutines until then: for the rest
// of one look, as long as the monitor waits for a P, or, should it move
// just before a wait, until that wait ends (at most idleWaitMax).
type raisedThread struct{ linux.Raised }

// keep raises the calling thread, and restores the one raised before, if
// the goroutine has moved since.
func (t *raisedThread) keep() {
	if unraised.Load() || t.Tid() == linux.Gettid() {
		return
	}
	t.Restore()
	t.Raised = linux.RaiseOwn()
}

// release restores the thread raised last.
func (t *raisedThread) release() {
	t.Restore()
	t.Raised = linux.Raised{}
}

// idleWaitMax (ms) bounds the monitor's sleep: should its goroutine move
// to another thread between its last look and the system call, the
// thread it left stays raised, running other goroutines, until it wakes
// (raisedThread). Each sleep in a system call also keeps the runtime's
// sysmon awake for its first 10 ms, about 50 wakes of its own: a bound of
// a second cost 0.05% of a core; ten seconds, a tenth of that.
const idleWaitMax = 10_000

// observe records progress when the worker beat since the last look.
func (st *hangState) observe(now int64) bool {
	count, at := st.p.lane.Heartbeat()
	if count == st.lastCount {
		return false
	}
	st.lastCount = count
	// Trust the worker's own beat time only when it is plausible.
	if at > st.progress && at <= now {
		st.progress = at
	} else {
		st.progress = now
	}
	st.clear()
	return true
}

// clear ends a suspicion.
func (st *hangState) clear() {
	st.suspect = false
	if st.probe != nil {
		st.probe.close()
		st.probe = nil
	}
}

// sample looks at the worker's threads.
func (st *hangState) sample() threadSample {
	if st.probe != nil {
		return st.probe.sample()
	}
	cpu := linux.ProcessCPU(st.p.pid)
	return threadSample{cpu: cpu, cpuOK: cpu > 0}
}

// exact reports whether the worker's CPU is read exactly (threadProbe).
func (st *hangState) exact() bool { return st.probe != nil && st.probe.exact }

// check returns when to look at the worker next, or that it is hung.
func (st *hangState) check(now int64) (next int64, hung bool) {
	if st.p.reason.Load() != reasonNone {
		return now + st.timeout, false // being stopped: not ours to judge
	}
	if st.p.seg.ActiveLane() != st.p.lane.Index() {
		// A parked spare does not beat; its clock starts when it is
		// promoted, and whoever promotes it makes the monitor look
		// (Segment.Failover), so its watchdog can sleep till then.
		st.progress, st.parked = now, true
		st.clear()
		if st.dog >= 0 {
			return 0, false
		}
		return now + st.timeout, false
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
	// The watch starts a lead before the deadline, so that the window in
	// which the monitor sees what the worker does ends at the deadline:
	// it judges at the deadline, never before.
	deadline := st.progress + st.timeout
	if now < st.watchAt() {
		return st.watchAt(), false
	}
	if !st.suspect {
		st.probe = openProbe(st.p.pid)
		s := st.sample()
		// Reading the scheduler's accounting takes time (opening the
		// probe, a few hundred microseconds), during which this thread may
		// itself be descheduled: look at the heartbeat once more, and
		// leave at least half a window after the reading.
		sampled := mono.Now()
		if st.observe(sampled) {
			return st.watchAt(), false
		}
		st.suspect, st.suspectAt, st.tickLooked = true, sampled, false
		st.run0, st.waitLast = s.run, s.wait
		st.cpuStart, st.cpuOK, st.cpu0, st.cpu0At = s.cpu, s.cpuOK, s.cpu, sampled
		watch := now + st.firstWindow(now-st.watchAt())
		st.confirmAt = max(deadline, watch, sampled+st.window/2)
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
	busy := machineBusy()
	runnable, inKernel, run, cpu := s.runnable, s.inKernel, s.run, s.cpu
	waited := s.wait - st.waitLast
	st.waitLast = s.wait
	cpuOK := s.cpuOK && st.cpuOK
	// Running flat out through the window without a beat is a spinning
	// loop, busy machine or not (a healthy worker that gets the CPU beats
	// within its loop's time), and so is a full interval of CPU since it
	// became suspect. With the exact counters a spinner shows at the first
	// window; through the process CPU clock, at the scheduler's next tick.
	// (Taking a runnable worker on an idle machine for a spinner, without
	// seeing its CPU, also called a worker whose sleep overslept while
	// another of its threads ran: 1 false alarm in 1,500.)
	spinning := run-st.run0 >= st.interval ||
		cpuOK && (cpu-st.cpuStart >= st.interval || st.ranHalf(cpu, now))
	// Held up: waiting for a CPU, or blocked in the kernel (uninterruptible:
	// a page fault served by a slow disk, memory reclaim), which is the
	// machine's doing, not the worker's loop's. With the exact counters, a
	// runnable worker that did not get a spinner's CPU in the window was
	// waiting for it, busy machine or not (it may share a CPU with another
	// task). Through the process clock, which moves at the tick, only a
	// busy machine says so; on an idle one a runnable worker gets one more
	// look, a tick later, for its CPU to show.
	heldUp := inKernel || (runnable || waited > 0) && (busy || st.exact())
	tickLook := !heldUp && runnable && !st.tickLooked
	switch {
	case spinning:
		st.kind = HangSpinning
	case heldUp && now-st.progress < st.cap:
		// Look again soon for the first tick, while a spinner that shares
		// a CPU may yet show, then at the busy machine's pace.
		step := st.confirmWindow(busy)
		if st.exact() && now-st.suspectAt < schedTick {
			step = st.window
		}
		st.starved += max(waited, now-st.confirmAt+step)
		st.confirmAt = now + step
		st.cpu0, st.cpu0At = cpu, now
		return st.confirmAt, false
	case heldUp:
		st.kind = HangHeldUp
	case tickLook:
		st.tickLooked = true
		st.confirmAt = now + schedTick
		return st.confirmAt, false
	case now < st.progress+st.timeout+st.window:
		// Asleep through the window. A spinner has shown itself by the
		// deadline; a sleeper gets a window past it, for a loop whose
		// sleep ran long (a healthy worker's timer that fired late) to
		// beat: the same evidence, judged a window later.
		st.confirmAt = st.progress + st.timeout + st.window
		return st.confirmAt, false
	default:
		st.kind = HangAsleep
	}
	st.clear()
	return 0, true
}

// watchAt is when the watch of a worker that has not beaten since its last
// observed progress starts: a lead before its deadline.
func (st *hangState) watchAt() int64 { return st.progress + st.timeout - st.lead }

// ranHalf reports whether the worker, now at cpu ns of CPU, ran at least
// half of the time since the window's reading (and at least a quarter of a
// window in all).
func (st *hangState) ranHalf(cpu, now int64) bool {
	ran := cpu - st.cpu0
	return ran >= st.window/4 && 2*ran >= now-st.cpu0At
}

// firstWindow is how long a worker just found past its deadline gets to
// beat before the second look. Normally it is short: a spinning or sleeping
// hang shows at once. But when the monitor itself came late, by late ns,
// more than a busy machine's window (a scheduler tick or more), it had been
// kept from a CPU for about that long, and so, likely, had the worker: a
// worker woken just now from such a stall may not have run its loop yet,
// and a silence the monitor could not watch is not held against it. The
// window is then as long as the monitor's own delay, up to the cap of
// silence. (Without this, one worker in a few thousand under a saturated
// machine was called hung: found asleep, its netpoller due within 1 ms,
// with no CPU used in the 500 us after an 8-31 ms stall of the monitor's.)
func (st *hangState) firstWindow(late int64) int64 {
	if late > st.confirmWindow(true) {
		return min(late, st.cap)
	}
	return st.window
}

// confirmWindow is how long a suspect gets to beat before the next look.
// The kernel's accounting moves in scheduler ticks, so on a busy machine
// the window is long enough to see it move; on an idle one nothing keeps a
// healthy worker from beating, and the window is short.
func (st *hangState) confirmWindow(busy bool) int64 {
	if busy {
		return max(st.window, st.interval, schedTick)
	}
	return st.window
}

// schedTick is the scheduler's tick at HZ=250, the usual kernel
// configuration: the kernel's accounting of a thread that stays on a CPU
// moves at most this long after it began to run.
const schedTick = int64(4 * time.Millisecond)

// machineBusy reports whether more tasks are runnable than there are CPUs
// (the instantaneous count in /proc/loadavg, this thread included): then a
// worker that misses a beat may be waiting for a CPU.
func machineBusy() bool {
	var buf [128]byte
	b := linux.ReadSmall(loadavgPath, buf[:])
	f := bytes.Fields(b)
	if len(f) < 4 {
		return true // cannot tell: give the worker the benefit of the doubt
	}
	running, _, ok := bytes.Cut(f[3], []byte("/"))
	n, err := strconv.Atoi(string(running))
	if !ok || err != nil {
		return true
	}
	return n > onlineCPUs()
}

var loadavgPath = []byte("/proc/loadavg\x00")

var cpus struct {
	once sync.Once
	n    int
}

func onlineCPUs() int {
	cpus.once.Do(func() {
		cpus.n = runtime.NumCPU()
		if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
			if n := countCPUList(string(bytes.TrimSpace(b))); n > 0 {
				cpus.n = n
			}
		}
	})
	return cpus.n
}

// countCPUList counts the CPUs in a list like "0-3,6,8-9".
func countCPUList(s string) int {
	n := 0
	for _, part := range bytes.Split([]byte(s), []byte(",")) {
		lo, hi, isRange := bytes.Cut(part, []byte("-"))
		a, err := strconv.Atoi(string(lo))
		if err != nil {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(string(hi)); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}

// hung reports a confirmed hang and kills the worker's group.
func (p *Process) hung(st *hangState, now int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return // it died on its own first: Exited tells
	}
	p.setReason(reasonHung)
	if p.reason.Load() != reasonHung {
		return // already being stopped for another reason
	}
	err := &HangError{
		Name:    p.name,
		Pid:     p.pid,
		Silence: time.Duration(now - st.progress),
		Timeout: time.Duration(st.timeout),
		Starved: time.Duration(st.starved),
		Kind:    st.kind,
	}
	p.emit(Hung{Pid: p.pid, Mono: now, Err: err})
	p.signalGroupLocked(sigKill)
}

// Raw system calls for the watch.
//
// A system call made through the usual wrappers tells the Go scheduler
// that the goroutine may block. When the call lasts more than a few tens
// of microseconds and no processor (P) is idle, the runtime hands the
// goroutine's P to other work; on return, the goroutine, locked to its
// raised thread, waits until another thread hands it a P back. That thread
// is an ordinary one: it may itself wait for a CPU behind the very spinner
// being watched, for a scheduler slice (milliseconds).
//
// The watch of a suspect, from its watchdog's wake to the verdict at the
// deadline, makes dozens of calls that cannot block for long (opening and
// reading the suspect's /proc files and its counters, setting a timer) and
// waits a window or two in all. It makes them raw (internal/linux),
// keeping its P throughout; a program with more than one P lends it for
// at most rawWaitMax at a time, only while a worker is suspect.
//
// One hand-off is left that the monitor cannot avoid: the runtime's own
// monitor thread (sysmon) preempts a goroutine that resumed from a long
// sleep on a P whose time slice it deems 10 ms old, which is how an idle
// program's P looks. It comes within tens of microseconds of the wake, so
// the watch's lead (shm.WatchdogLead) absorbs it, save when the hand-off
// waits out a slice behind the spinner: the tail of BenchmarkHangDetection.

// rawWaitMax is the longest the monitor waits without giving its P back.
const rawWaitMax = int64(2_000_000)

// rawWaitOK reports whether the monitor may wait holding its P: only when
// the program has another P for its other goroutines.
func rawWaitOK() bool { return runtime.GOMAXPROCS(0) > 1 }

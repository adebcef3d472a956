//go:build linux

package procbridge

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
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
// Batch mode. A worker whose timeout leaves batchSlack or more after its
// interval gets no watchdog: the monitor's own timer keeps its deadline,
// set to the earliest deadline of all such workers, and each wake reads
// every heartbeat from memory at once. Deadlines spread over one interval
// lie between Timeout-Interval and Timeout ahead, so the monitor wakes
// about once per Timeout-Interval, however many workers it watches, and
// makes no system call for a healthy one. A wake's cost is then the reads
// of memory it makes per worker, each from another mapping, cold since the
// last wake (on a virtual machine a cache and TLB miss costs a
// microsecond): a healthy worker of a one-lane segment gets a quick look
// (hangState.quick), three words read in place from a list the processor
// walks with many reads in flight, and only the others the full look
// (check). A watchdog saves wakes only when
// that slack is short; its upkeep is a system call per worker at each
// wake (the audit reads each watchdog, and the monitor re-arms each one
// that moved), and one per beat in the worker.
//
// A worker near its deadline is suspect, not hung: on a loaded machine it
// may simply be waiting for a CPU. The monitor watches its threads from
// the lead before the deadline (hangState, threadProbe: their state, their
// time waiting for a CPU, and their CPU time, exactly where perf events
// allow) and asks the verdict (internal/hang) at each look: a worker that
// spun through the watch, or slept through it and a window past the
// deadline, is hung; one held up waiting for a CPU or in the kernel gets
// more windows, up to a cap of silence. It is never judged before its
// deadline.
var monitor hangMonitor

// noWatchdog, set by tests and benchmarks, starts workers without a
// watchdog, so the monitor keeps their deadlines on its own timer.
var noWatchdog atomic.Bool

// batchSlack is the least Timeout-Interval of a worker watched in batch:
// at most four wakes a second for every such worker together.
const batchSlack = 250 * time.Millisecond

// batched reports whether a worker with heartbeat hb is watched in batch,
// without a watchdog.
func batched(hb Heartbeat) bool { return hb.Timeout-hb.Interval >= batchSlack }

// monitorWakeDelay, set by tests, delays the monitor after each wake (ns),
// so that a worker's re-arm of its watchdog always lands between the wake
// and the monitor's handling of it.
var monitorWakeDelay atomic.Int64

type hangMonitor struct {
	wakes   atomic.Int64 // times the loop woke (tests count them)
	quicks  atomic.Int64 // quick looks at a worker (tests count them)
	fulls   atomic.Int64 // full looks at a worker
	audits  atomic.Int64 // audits of the watchdogs (tests count them)
	mu      sync.Mutex
	watch   map[*Process]*hangState
	list    []*hangState       // watch's values, in the order a wake reads them
	slow    []*hangState       // a wake's workers for the full look (reused)
	dogs    map[int]*hangState // the watchdogs in the epoll set, by descriptor
	running bool
	timer   int   // the monitor's own timerfd: confirmation windows, workers without a watchdog
	ep      int   // an epoll set of the timer and the watchdogs
	timerAt int64 // when the monitor's timer is set to expire (0: disarmed)
	poked   bool  // a look is due at once (poke), or the loop has not made its first
	stallAt int64 // mono ns of the monitor's last wake more than stallMin late
	auditAt int64 // mono ns of the last audit
}

// stallMin is how late the monitor's own wake must be to count as a stall
// of the machine (hang.Sample.Stalled): the monitor's thread is raised, so
// a wake more than a scheduler tick late means the machine ran nothing of
// ours.
const stallMin = int64(4 * time.Millisecond)

func (m *hangMonitor) add(p *Process) {
	st := newHangState(p)
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.os.reaped {
		return // already gone: nothing to watch
	}
	if !m.running {
		if err := m.start(); err != nil {
			return // no timerfd or epoll (Linux < 2.6.25): heartbeats go unwatched
		}
		m.poked = true // the loop's first look comes at once
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
	st.idx = len(m.list)
	m.list = append(m.list, st)
	m.schedule(st)
}

// schedule sets when to look first at st, a worker just added (m.mu
// held). A worker watched in batch needs no look before its first
// deadline's watch: the monitor's own timer is moved earlier for it, if
// need be, without a wake. A look reads every worker, so a wake for each
// start would make n starts cost n²/2 reads. A worker with a watchdog gets
// a look at once, which arms the watchdog.
func (m *hangMonitor) schedule(st *hangState) {
	if m.poked {
		return // the look coming at once sets it
	}
	if st.dog >= 0 {
		m.poke()
		return
	}
	at := max(st.progress+st.dueAfter, st.dueFloor, 1)
	if m.timerAt == 0 || at < m.timerAt {
		linux.SetTimer(m.timer, at)
		m.timerAt = at
	}
}

// drop stops watching st's worker (m.mu held).
func (m *hangMonitor) drop(st *hangState) {
	last := len(m.list) - 1
	m.list[st.idx] = m.list[last]
	m.list[st.idx].idx = st.idx
	m.list[last] = nil
	m.list = m.list[:last]
	delete(m.watch, st.p)
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
	m.timerAt = 0
	m.running = true
	linux.KeepTaskClocks()
	go m.run(ep)
	return nil
}

func (m *hangMonitor) ctl(op, fd int, ev *unix.EpollEvent) error {
	return unix.EpollCtl(m.ep, op, fd, ev)
}

// poke makes the monitor look now (m.mu held): the timer expires at once.
func (m *hangMonitor) poke() {
	linux.SetTimer(m.timer, 1)
	m.poked = true
}

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
	m.drop(st)
	if len(m.watch) == 0 {
		m.poke() // for the loop to end; otherwise the next look finds st gone
	}
}

// run is the monitor's loop. It sleeps on the epoll set until a watchdog or
// its own timer expires, looks at every worker, and sets each watchdog and
// its own timer for the next look. It runs on a raised thread without being
// locked to it (raisedThread).
func (m *hangMonitor) run(ep int) {
	var thread raisedThread
	defer thread.release()
	var hung []*hangState
	var ready []int32
	for {
		thread.keep()
		m.mu.Lock()
		m.poked = false
		woke := mono.Now()
		for _, fd := range ready {
			// Quiet what expired, if it is still ours: a worker's watchdog
			// may have been closed since, and its number reused.
			st, ok := m.dogs[int(fd)]
			switch {
			case ok:
				// A worker's watchdog is never read: the worker shares its
				// open file description and may have made it blocking,
				// and re-armed it since the wait. Disarming never blocks,
				// resets the expiry count and leaves it unreadable;
				// whatever the deadline now, it is set again below. (A beat
				// from another goroutine of the worker may have set it
				// earlier than the monitor had.)
				linux.SetTimer(int(fd), 0)
				st.dogAt = -1
				m.budgetFire(st, woke)
			case int(fd) == m.timer:
				linux.DrainTimer(int(fd)) // the monitor's own, never shared
			}
		}
		m.audit(woke)
		if len(m.watch) == 0 {
			m.running = false
			linux.ReleaseTaskClocks()
			stopProbers()
			unix.Close(m.timer)
			unix.Close(ep)
			m.timer, m.ep = -1, -1
			m.mu.Unlock()
			return
		}
		now := mono.Now()
		if m.timerAt > 0 && now-m.timerAt > stallMin {
			m.stallAt = now
		}
		next := int64(1<<63 - 1)
		watching := false
		hung = hung[:0]
		ml := machineLook{stallAt: m.stallAt}
		// Healthy workers first, from memory alone; the others get the
		// full look, after the pass that counts the overdue among them (a
		// worker that beat is neither overdue nor silent).
		slow := m.slow[:0]
		for _, st := range m.list {
			if at, ok := st.quick(now); ok {
				ml.watched++
				next = m.keep(st, at, next)
			} else {
				slow = append(slow, st)
			}
		}
		m.quicks.Add(int64(len(m.list) - len(slow)))
		m.fulls.Add(int64(len(slow)))
		for _, st := range slow {
			overdue, silent := st.overdue(now)
			ml.overdue += b2i(overdue)
			ml.silent += b2i(silent)
			ml.watched += b2i(!st.parked)
		}
		for _, st := range slow {
			at, isHung := st.check(now, &ml)
			switch {
			case isHung:
				hung = append(hung, st)
				m.drop(st)
			default:
				st.quickable()
				next = m.keep(st, at, next)
				watching = watching || st.suspect
			}
		}
		clear(slow)
		m.slow = slow[:0]
		m.stallAt = ml.stallAt // a late watchdog's wake, seen in the pass
		if next == 1<<63-1 {
			linux.SetTimer(m.timer, 0) // every worker's watchdog keeps its deadline
			m.timerAt = 0
		} else {
			linux.SetTimer(m.timer, max(next, 1))
			m.timerAt = max(next, 1)
		}
		// While a suspect is watched, wait for its next look holding the
		// P (rawWaitMax).
		raw := watching && next-mono.Now() <= rawWaitMax && rawWaitOK()
		idle := idleWaitMax
		if len(m.dogs) > 0 {
			idle = m.auditWait(mono.Now())
		}
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
		if ready, err = linux.EpollWait(ep, ready[:0], raw, idle); err != nil {
			return // the set was closed under us: cannot happen while watching
		}
		m.wakes.Add(1)
		if d := monitorWakeDelay.Load(); d > 0 {
			linux.SleepUntil(mono.Now() + d) // tests: widen the race with a worker's re-arm
		}
	}
}

// keep sets when to look at st next, at, and returns the monitor's own
// next wake, next, moved earlier if its timer keeps st's deadline (m.mu
// held). A healthy worker's (or parked spare's: at 0 disarms) watchdog
// keeps the deadline, and the worker moves it on as it beats.
//
// The worker re-arms its watchdog as it beats, from its own goroutine,
// perhaps between the monitor's reading of its beat and the monitor's arm:
// a watchdog that already expires at or after at was armed for a later
// beat, and is left as it is. Moved back to at, it would fire for a beat
// the worker made, and each such wake re-arms the others the same way.
func (m *hangMonitor) keep(st *hangState, at, next int64) int64 {
	if st.dog >= 0 && !st.suspect {
		if at != st.dogAt {
			if rem := linux.TimerRemaining(st.dog); at == 0 || rem == 0 || mono.Now()+rem < at {
				linux.SetTimer(st.dog, at)
			}
			st.dogAt = at
		}
		return next
	}
	return min(next, at)
}

// A watchdog is the worker's to arm, and a worker may arm it wrong: early
// (a storm of fires, each a look at every worker) or far ahead (its hang
// judged late). An SDK worker arms it to its last beat plus its timeout
// less the lead (re-arming at most every shm.WatchdogGap), and the monitor
// to the deadline it saw, so neither ever fires more than that gap before
// the deadline the monitor last saw, nor is ever armed more than a timeout
// ahead. A worker's watchdog that breaks these rules is
// revoked: its deadlines go on the monitor's own timer, as for a worker
// without one. That is not a violation: a worker in another language on
// the wrong clock is watched the slower way, not killed.
const maxEarlyFires = 8

// budgetFire counts a fire of st's watchdog before its deadline; after
// maxEarlyFires in a row the watchdog is revoked (m.mu held).
func (m *hangMonitor) budgetFire(st *hangState, now int64) {
	// An SDK worker that skipped re-arms since the beat the monitor last
	// saw (it re-arms at most every shm.WatchdogGap) lets it fire up to
	// that early: a stall of the worker, not a watchdog armed wrong. The
	// worker arms it from its beat alone: a young worker's fires before
	// the start grace the monitor grants it (a slow start) are its own
	// rule kept, not broken.
	if !st.parked && now >= st.progress+st.dueAfter-st.dogGap {
		st.early = 0
		return
	}
	// Early, or a parked spare's, which only the worker arms.
	if st.early++; st.early >= maxEarlyFires {
		m.revoke(st)
	}
}

// audit revokes every watchdog armed further ahead than its worker's
// timeout, as no SDK arms it, and further than the monitor does (a young
// worker's, to its start grace). It runs at a wake at most once per
// auditWaitMax, a timerfd_gettime per watchdog (at every wake, hundreds of
// late workers made it a system call per watchdog hundreds of times a
// second), and while the monitor holds a watchdog it sleeps no later than
// the next audit is due (auditWait), so a worker that arms its watchdog
// far ahead is judged at most auditWaitMax late (m.mu held).
func (m *hangMonitor) audit(now int64) {
	if now-m.auditAt < auditWaitMax*int64(time.Millisecond) {
		return
	}
	m.auditAt = now
	m.audits.Add(1)
	for _, st := range m.dogs {
		if rem := linux.TimerRemaining(st.dog); rem > st.policy.Timeout && now+rem > st.dueFloor {
			m.revoke(st)
		}
	}
}

// auditWait is how long, in ms, the monitor may sleep at now while it
// holds a watchdog: until the next audit is due, at least 1 ms.
func (m *hangMonitor) auditWait(now int64) int {
	due := m.auditAt + auditWaitMax*int64(time.Millisecond)
	return int(max(1, min(auditWaitMax, (due-now+int64(time.Millisecond)-1)/int64(time.Millisecond))))
}

// revoke takes st's watchdog out of the epoll set; the monitor's own timer
// keeps its deadlines from now on (m.mu held). The descriptor stays the
// process's, closed when it is reaped.
func (m *hangMonitor) revoke(st *hangState) {
	if st.dog < 0 {
		return
	}
	m.ctl(unix.EPOLL_CTL_DEL, st.dog, nil)
	delete(m.dogs, st.dog)
	st.dog = -1
	st.revoked = true
}

// Raw system calls for the watch.
//
// A system call made through the usual wrappers tells the Go scheduler
// that the goroutine may block. When the call lasts more than a few tens
// of microseconds and no processor (P) is idle, the runtime hands the
// goroutine's P to other work; on return, the goroutine waits until
// another thread hands it a P back. That thread is an ordinary one: it may
// itself wait for a CPU behind the very spinner being watched, for a
// scheduler slice (milliseconds).
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
// waits out a slice behind the spinner.

// rawWaitMax is the longest the monitor waits without giving its P back.
const rawWaitMax = int64(2_000_000)

// rawWaitOK reports whether the monitor may wait holding its P: only when
// the program has another P for its other goroutines.
func rawWaitOK() bool { return runtime.GOMAXPROCS(0) > 1 }

// idleWaitMax (ms) bounds the monitor's sleep: should its goroutine move
// to another thread between its last look and the system call, the
// thread it left stays raised, running other goroutines, until it wakes
// (raisedThread). Each sleep in a system call also keeps the runtime's
// sysmon awake for its first 10 ms, some 50 wakes of its own, so the bound
// is long.
const idleWaitMax = 10_000

// auditWaitMax (ms) is how often the monitor audits the watchdogs, and
// bounds its sleep while it holds a worker's watchdog, so that one armed
// far ahead is found (audit): a timerfd_gettime per watchdog once a
// second, however often the monitor wakes.
const auditWaitMax = 1_000

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

//go:build linux

package linux

import (
	"errors"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Raising a thread above ordinary tasks, so that it gets a CPU the moment
// it is woken even while other tasks hold every CPU: the bridge's watchers
// (the hang monitor, the death-notice waiters) and a worker's parked spare
// are raised; they sleep nearly always and run for microseconds when they
// wake.

// ResetOnFork is SCHED_FLAG_RESET_ON_FORK: a process forked from a raised
// thread starts at the default scheduling. Only a privileged process may
// clear it once set.
const ResetOnFork = 0x01

// SliceNs is the short slice asked for when the real-time class is refused.
const SliceNs = 100_000

// Raise raises the calling thread, which the caller keeps locked to its
// goroutine: to the lowest real-time priority (SCHED_FIFO 1), which the
// process may have with CAP_SYS_NICE or an RLIMIT_RTPRIO above 0, else to a
// short slice at the given nice value (sched_setattr's runtime, honoured by
// Linux 6.12 and later), with which the scheduler lets a waking task preempt
// one of a longer slice. Without either, a thread woken on a busy CPU waits
// for the running task's slice to end: milliseconds. Both keep ResetOnFork.
// It reports whether either was granted.
func Raise(nice int32) bool { return raise(0, nice) }

// raise raises thread tid (0: the calling thread) as Raise does.
func raise(tid int, nice int32) bool {
	fifo := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1, Flags: ResetOnFork}
	if unix.SchedSetAttr(tid, &fifo, 0) == nil {
		return true
	}
	short := unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: nice, Runtime: SliceNs, Flags: ResetOnFork}
	return unix.SchedSetAttr(tid, &short, 0) == nil
}

// Raised is a thread raised by RaiseOwn, and what it had before.
type Raised struct {
	tid     int
	old     *unix.SchedAttr // nil when nothing was raised
	foreign bool            // the thread was in a class not SCHED_NORMAL
	held    bool            // old's nice is BoostOwn's, and unheld the one before
	unheld  int32
}

// RaiseOwn raises the calling thread as Raise does, at the thread's own
// nice value, and remembers what it had for Restore. A thread the program
// put in a scheduling class of its own (not SCHED_NORMAL) keeps it. A
// thread that BoostOwn holds raised is given back to the boost, or to the
// nice it had before the boost once the boost has ended. The caller keeps
// the thread locked to its goroutine, or checks that it is still on the
// thread it raised (Tid).
func RaiseOwn() Raised {
	r := Raised{tid: unix.Gettid()}
	old, err := unix.SchedGetAttr(r.tid, 0)
	if err != nil || old.Policy != unix.SCHED_NORMAL {
		r.foreign = err == nil
		return r
	}
	if raise(r.tid, old.Nice) {
		// Restore keeps reset-on-fork, which only a privileged process
		// may clear once set; it matters only to children forked from
		// this very thread.
		old.Flags |= ResetOnFork
		r.held, r.unheld = ownNice(r.tid, old.Nice)
		r.old = old
	}
	return r
}

// Tid is the thread raised (0 for none).
func (r Raised) Tid() int { return r.tid }

// Foreign reports whether RaiseOwn found the thread in a class other than
// SCHED_NORMAL and left it so. Whoever put it there may give it its
// normal scheduling back while the caller is still on it (an audio
// engine's Run raises a process's threads for its length), so a caller
// that means to stay raised looks again.
func (r Raised) Foreign() bool { return r.foreign }

// Restore gives the thread back what it had before RaiseOwn; failing that,
// the default class at its nice value, so that it is never left raised. It
// may be called from any thread, once the thread may have been unlocked:
// a thread no longer as Raise left it (the program has since put it in a
// class of its own) keeps what it has.
func (r Raised) Restore() {
	if r.old == nil {
		return
	}
	if cur, err := unix.SchedGetAttr(r.tid, 0); err != nil || !asRaised(cur) {
		return
	}
	old := *r.old
	ownRestore(r.tid, &old, r.held, r.unheld)
	if unix.SchedSetAttr(r.tid, &old, 0) != nil {
		def := unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: old.Nice, Flags: old.Flags}
		unix.SchedSetAttr(r.tid, &def, 0)
	}
}

// asRaised reports whether a thread's attributes are those Raise sets.
func asRaised(a *unix.SchedAttr) bool {
	return a.Policy == unix.SCHED_FIFO && a.Priority == 1 ||
		a.Policy == unix.SCHED_NORMAL && a.Runtime == SliceNs
}

// SetFIFO puts the calling thread in SCHED_FIFO at prio (1 to 99), or
// back in SCHED_NORMAL when prio is 0.
func SetFIFO(prio int) error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(prio)}
	if prio == 0 {
		attr.Policy = unix.SCHED_NORMAL
	}
	return unix.SchedSetAttr(0, &attr, 0)
}

// Gettid returns the calling thread's ID.
func Gettid() int { return unix.Gettid() }

// BoostNice is the nice value of a thread Boost raised.
const BoostNice = -20

// Boosted is a thread raised by Boost, and what it had before.
type Boosted struct {
	tid int
	old *unix.SchedAttr // nil when nothing was raised
}

// Boost raises thread tid, of another process (a worker just forked), from
// nice 0 in the default class to BoostNice with ResetOnFork: the threads and
// processes it creates start at nice 0, as they would have, so the thread is
// the only one of its program raised, and Unboost gives it back alone. A
// thread at another nice, or in another class, is left as it is. Boost
// reports whether it raised the thread; it fails where the process may not
// raise others' threads (EPERM, EACCES: without CAP_SYS_NICE, or an
// RLIMIT_NICE that allows nice -20).
func Boost(tid int) (Boosted, error) {
	old, err := unix.SchedGetAttr(tid, 0)
	if err != nil || old.Policy != unix.SCHED_NORMAL || old.Nice != 0 {
		return Boosted{}, err
	}
	// Runtime 0: the default slice, which the thread has (a slice set
	// explicitly, even the default's length, is a custom one).
	a := unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: BoostNice, Flags: old.Flags | ResetOnFork}
	if err := unix.SchedSetAttr(tid, &a, 0); err != nil {
		return Boosted{}, err
	}
	return Boosted{tid: tid, old: old}, nil
}

// boostThreads boosts, as Boost does, every thread of process pid that
// is at nice 0 in the default class, and returns those it raised. It
// stops at the first refusal (EPERM, EACCES), returning it with what it
// raised till then. A thread that ends meanwhile is passed over.
func boostThreads(pid int) ([]Boosted, error) {
	var raised []Boosted
	var refused error
	EachTask(pid, func(tid int) {
		if refused != nil {
			return
		}
		b, err := Boost(tid)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			refused = err
		} else if b.Active() {
			raised = append(raised, b)
		}
	})
	return raised, refused
}

// ownBoost is the threads of this process raised by BoostOwn, by id,
// while a hold lasts.
var ownBoost struct {
	sync.Mutex
	holds  int
	raised map[int]Boosted
}

// BoostOwn raises every thread of this process at nice 0 in the default
// class to BoostNice, as Boost does, until every caller has called
// the function it returned (once each; later calls do nothing). A thread
// started meanwhile starts at nice 0 (reset-on-fork). Where the process may
// not raise its threads nothing is raised. Threads raised in turn by
// RaiseOwn meanwhile are given back (Restore) to the boost while it
// lasts, and after it to the nice they had before; threads at nice 0
// given back while it lasts are held too (BoostOwnNew for the others).
func BoostOwn() (release func()) {
	ownBoost.Lock()
	defer ownBoost.Unlock()
	if ownBoost.holds++; ownBoost.holds == 1 {
		raised, _ := boostThreads(os.Getpid())
		ownBoost.raised = make(map[int]Boosted, len(raised))
		for _, b := range raised {
			ownBoost.raised[b.tid] = b
		}
	}
	var once sync.Once
	return func() { once.Do(unboostOwn) }
}

// unboostOwn ends a hold of BoostOwn; the last gives back every thread
// still of this process (tgkill's check: an id freed by a thread that
// ended may name another process's thread by now).
func unboostOwn() {
	ownBoost.Lock()
	defer ownBoost.Unlock()
	if ownBoost.holds--; ownBoost.holds > 0 {
		return
	}
	pid := os.Getpid()
	for tid, b := range ownBoost.raised {
		if unix.Tgkill(pid, tid, 0) == nil {
			b.Unboost()
		}
	}
	ownBoost.raised = nil
}

// ownNice reports whether thread tid, at nice, is held raised by
// BoostOwn, and the nice it had before.
func ownNice(tid int, nice int32) (bool, int32) {
	ownBoost.Lock()
	defer ownBoost.Unlock()
	if b, ok := ownBoost.raised[tid]; ok && b.old != nil && nice == BoostNice {
		return true, b.old.Nice
	}
	return false, nice
}

// ownRestore sets a, what Restore gives thread tid back, to what BoostOwn
// asks: the nice the thread had before a boost that held it and has ended
// since (held, unheld: as RaiseOwn found it); the boost, while one lasts,
// for a thread given back to nice 0 in the default class, which the hold
// then holds too.
func ownRestore(tid int, a *unix.SchedAttr, held bool, unheld int32) {
	ownBoost.Lock()
	defer ownBoost.Unlock()
	_, holding := ownBoost.raised[tid]
	switch {
	case held && !holding:
		a.Nice = unheld
	case !held && ownBoost.holds > 0 && a.Policy == unix.SCHED_NORMAL && a.Nice == 0:
		before := *a
		ownBoost.raised[tid] = Boosted{tid: tid, old: &before}
		a.Nice = BoostNice
		a.Flags |= ResetOnFork
	}
}

// BoostOwnNew raises, while a hold of BoostOwn lasts, this process's
// threads started since it began (they start at nice 0: reset-on-fork),
// and holds them too. The Go runtime starts threads as it needs them, a
// goroutine that waits in a system call handing its P to another.
// Without a hold it does nothing.
func BoostOwnNew() {
	ownBoost.Lock()
	defer ownBoost.Unlock()
	if ownBoost.holds == 0 {
		return
	}
	raised, _ := boostThreads(os.Getpid())
	for _, b := range raised {
		ownBoost.raised[b.tid] = b
	}
}

// RaiseEnding raises every thread of process pid, whose end is certain
// (each thread has SIGKILL pending, or has begun its exit: none returns to
// its program), to the lowest real-time priority (SCHED_FIFO 1), or where
// that is refused to BoostNice. The kernel's work for a process's end (its
// memory torn down, its /proc entries flushed, by its last thread) then
// waits for no ordinary task; at nice -20 it got about a seventh of a CPU
// among 500 busy ones, and took up to 3 s. The caller makes sure pid names
// the process (not reaped). It reports whether the process may raise
// another's threads (false after EPERM or EACCES on both).
func RaiseEnding(pid int) bool {
	fifo := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1, Flags: ResetOnFork}
	may := true
	EachTask(pid, func(tid int) { // none when gone already, or without /proc
		if unix.Tgkill(pid, tid, 0) != nil || unix.SchedSetAttr(tid, &fifo, 0) == nil {
			return // ended (its id may name another's thread by now), or raised
		}
		err := unix.Setpriority(unix.PRIO_PROCESS, tid, BoostNice)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			may = false
		}
	})
	return may
}

// UnboostThreads puts every thread of process pid that is at a nice below
// 0 in the default class (SCHED_NORMAL, SCHED_BATCH) back at nice 0. The
// caller makes sure pid names the process (not reaped).
//
// A thread made while a walk runs, by one not yet put back, starts at its
// maker's nice and may be missed by the walk: it walks again, up to
// unboostWalks times, until a walk finds none below 0.
func UnboostThreads(pid int) {
	for range unboostWalks {
		lowered := false
		EachTask(pid, func(tid int) {
			a, err := unix.SchedGetAttr(tid, 0)
			fair := err == nil && (a.Policy == unix.SCHED_NORMAL || a.Policy == unix.SCHED_BATCH)
			if fair && a.Nice < 0 && unix.Tgkill(pid, tid, 0) == nil {
				unix.Setpriority(unix.PRIO_PROCESS, tid, 0)
				lowered = true
			}
		})
		if !lowered {
			return
		}
	}
}

// unboostWalks bounds UnboostThreads's walks of a process that keeps
// making threads.
const unboostWalks = 8

// Tid is the thread Boost raised (0 for none).
func (b Boosted) Tid() int { return b.tid }

// Active reports whether b raised a thread that Unboost has not given back.
func (b Boosted) Active() bool { return b.old != nil }

// Unboost gives the thread Boost raised its nice back, 0, and its
// reset-on-fork as it was, whatever the thread did since: a class it put
// itself in stays, at a nice of at least 0, so that nothing it does keeps
// it above the nice it was started at. Reset-on-fork, which only a process
// with CAP_SYS_NICE may clear, stays where the caller may not. The caller
// makes sure tid still names the thread (its process not reaped).
func (b *Boosted) Unboost() {
	if b.old == nil {
		return
	}
	old := b.old
	b.old = nil
	cur, err := unix.SchedGetAttr(b.tid, 0)
	if err != nil {
		return // gone
	}
	a := *cur
	a.Nice = max(cur.Nice, 0)
	a.Flags = cur.Flags&^ResetOnFork | old.Flags&ResetOnFork
	if a == *cur {
		return
	}
	if a.Runtime == old.Runtime {
		a.Runtime = 0 // the default slice still (Boost)
	}
	if unix.SchedSetAttr(b.tid, &a, 0) != nil {
		a.Flags |= ResetOnFork
		unix.SchedSetAttr(b.tid, &a, 0)
	}
	if fair := a.Policy == unix.SCHED_NORMAL || a.Policy == unix.SCHED_BATCH || a.Policy == unix.SCHED_IDLE; cur.Nice < 0 && !fair {
		// A real-time class keeps its nice through sched_setattr, for
		// when it goes back to the default class.
		unix.Setpriority(unix.PRIO_PROCESS, b.tid, 0)
	}
}

//go:build linux

package procbridge

import (
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
)

// A worker on its way to Ready runs boosted: its first thread at nice -20
// (linux.Boost), from the fork until Ready, the end of its start, or
// boostMax, whichever comes first. Among many workers that beat, a start
// otherwise waits behind each of their wakes for a CPU, and a restart
// takes as long as the start. The boost covers the thread the program
// starts on, and nothing it creates (reset-on-fork: its threads and
// children start at nice 0, as they would have), so giving it back is one
// call on one thread, and a worker can hand it to no one. A worker that
// changes its own scheduling meanwhile keeps its change, at a nice of at
// least 0: a nice below 0 that a privileged worker gives its first
// thread before Ready is undone, so it sets it after. A spare is not
// boosted: its start is no one's wait, and it raises its own thread as it
// parks, which would read the boost as its own nice. A supervisor at a
// nice other than 0, or that may not raise another's thread (without
// CAP_SYS_NICE), boosts nothing: it asks once.

// boostMax bounds a boost: a worker that takes longer to be ready (one
// that spins rather than says Ready) goes on at its own nice, so a boost
// costs the machine at most this much of a CPU per start.
const boostMax = time.Second

// noBoost is set once the kernel refuses a boost: no start asks again.
var noBoost atomic.Bool

// boost raises the worker just forked (on the forker's thread), when it
// will say it is ready.
func (p *Process) boost() {
	if noBoost.Load() || !p.spec.usesSDK() && !p.spec.notifies() {
		return
	}
	b, err := linux.Boost(p.pid)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		noBoost.Store(true)
	}
	p.os.boost = b
}

// unboost gives the worker's first thread its scheduling back, unless it
// is already reaped (its pid may name another process since).
func (p *Process) unboost() {
	if !p.os.boost.Active() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		p.os.boost.Unboost()
	}
}

// hasten raises a worker whose end is certain (every thread has SIGKILL
// pending, or the group's exit has begun): its threads must each get a CPU
// to exit, and its last thread tears down its memory and flushes its /proc
// entries, before the kernel tells the end. No thread of a process so
// ending returns to its program, so the raise serves its end alone. Where
// the process may not raise another's thread, it is left as it is.
//
// A worker the bridge stops, whose end the next stop of a tree waits on,
// has every thread raised to the lowest real-time priority
// (linux.RaiseEnding): among 500 workers that beat, a stopped worker's
// last thread at nice -20 took up to 3 s for its teardown. Any other has
// its first thread at nice -20: its end races a spare's takeover, or a
// restart's new worker, for the CPUs, and a 512 MB primary torn down in
// real time doubled its failover's switch. Among a thousand workers that
// beat, the threads of one at nice 0 waited for a CPU tens of milliseconds
// after the first of them told its death.
func (p *Process) hasten() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hastenLocked()
}

// hastenLocked is hasten with p.mu held: the pid names the worker until it
// is reaped.
func (p *Process) hastenLocked() {
	switch {
	case p.reaped || noBoost.Load():
	case p.reason.Load() != reasonStopped:
		unix.Setpriority(unix.PRIO_PROCESS, p.pid, linux.BoostNice)
	case !linux.RaiseEnding(p.pid):
		noBoost.Store(true)
	}
}

// hastenStopLocked raises every thread of a worker about to be asked to
// stop (SIGTERM), and of the processes in its group, to nice -20, for
// boostMax at most. A tree stops its children one after the other, each
// gone before the next is asked: among 512 workers beating on two CPUs
// each stop waited about a second for the worker's threads to get a CPU,
// to take the signal and to exit, and stopping the tree took minutes. A
// worker that takes longer to end (it ignores the signal, or cleans up)
// goes on at nice 0 till its grace ends, so a stop costs the machine at
// most boostMax of a CPU per thread. One setpriority(2) on the process
// group reaches every thread of every member, with no listing of them.
// Once the worker's end is certain its threads go higher still (hasten).
// p.mu is held: the pid, and the group's id, name the worker's.
func (p *Process) hastenStopLocked() {
	if p.reaped || noBoost.Load() {
		return
	}
	linux.BoostOwnNew() // a tree that stops holds this program raised (supervision's Tree.Stop)
	err := unix.Setpriority(unix.PRIO_PGRP, p.pid, linux.BoostNice)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		noBoost.Store(true)
		return
	}
	if err != nil {
		return // ESRCH: its group is empty, the worker having left it; it goes at its own nice
	}
	p.os.stopBoostEnd = time.AfterFunc(boostMax, p.unboostStop)
}

// unboostStop puts back at nice 0 the threads hastenStopLocked raised, of a
// worker still there: those in its group, and then the worker's own, one
// by one, whether it left the group since (setsid) or not: a thread the
// worker made as the group's were put back started at its maker's nice,
// and the kernel's walk of the group may not have found it.
func (p *Process) unboostStop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return
	}
	unix.Setpriority(unix.PRIO_PGRP, p.pid, 0) // the group's id is the worker's pid, its own till it is reaped
	linux.UnboostThreads(p.pid)
}

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

// hasten raises the first thread of a worker whose end is certain (every
// thread has SIGKILL pending, or has exited): its threads must each get a
// CPU to exit before the kernel tells the end, and among a thousand
// workers that beat they waited for one tens of milliseconds after the
// first of them told its death (the robust word). No thread of a process
// so ending returns to its program, so the boost serves its end alone.
// Where the process may not raise another's thread, it is left as it is.
func (p *Process) hasten() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hastenLocked()
}

// hastenLocked is hasten with p.mu held: the pid names the worker until it
// is reaped.
func (p *Process) hastenLocked() {
	if !p.reaped && !noBoost.Load() {
		unix.Setpriority(unix.PRIO_PROCESS, p.pid, linux.BoostNice)
	}
}

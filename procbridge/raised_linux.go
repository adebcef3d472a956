//go:build linux

package procbridge

import (
	"sync/atomic"

	"github.com/understudy/understudy/internal/linux"
)

// The bridge's watchers, the hang monitor and the death-notice waiters,
// must run as soon as they are woken even while a hung worker spins or a
// dying one's threads tear it down: their threads are raised above
// ordinary tasks (linux.RaiseOwn).

// promptThread raises the calling thread, locked to its goroutine. Its
// thread ends with it, so nothing is restored.
func promptThread() {
	if !unraised.Load() {
		linux.RaiseOwn()
	}
}

// unraised, set by benchmarks, leaves the watchers' threads as they are,
// to measure what raising them buys.
var unraised atomic.Bool

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
// that is preempted goes on at once on the same thread, as a rule.
//
// So the monitor raises whatever thread it finds itself on, before and
// after each wait, and gives the thread it leaves its scheduling back. A
// thread it left raised may run other goroutines until then: for the rest
// of one look, as long as the monitor waits for a P, or, should it move
// just before a wait, until that wait ends (at most idleWaitMax).
type raisedThread struct{ linux.Raised }

// keep raises the calling thread, and restores the one raised before, if
// the goroutine has moved since, or if the thread was in a class of
// another's making (Foreign), which may have been taken back since.
func (t *raisedThread) keep() {
	if unraised.Load() || t.Tid() == linux.Gettid() && !t.Foreign() {
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

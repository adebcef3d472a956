//go:build linux

package procbridge

import (
	"sync/atomic"

	"github.com/understudy/understudy/procbridge/internal/shm"
)

// Death-notice waiters in batches (waitv_pool_linux.go): a batch's thread,
// an OS thread of its own made prompt, sleeps on the robust words of up to
// batchSize processes. Where the kernel has no futex_waitv, every process
// gets its own waiter (waitAlone). While warm is held a batch's thread
// wakes every warmSlice as well (warm_linux.go).
var dyingWaiters = waitvPool[*Process, *dyingMember]{warm: true, prompt: true}

// dyingMember is one process's robust word 0 in a batch.
type dyingMember struct {
	p      *Process
	word   *uint32
	tid    uint32
	budget dyingBudget

	// What the look that took it out of the batch found (the batch's
	// thread only).
	died  bool
	spent bool // its word broke the waiter's budget
}

// look settles a word that says its thread died or that it is done, arms
// one that holds the bare thread id, and sleeps on one that is armed.
func (m *dyingMember) look(woken bool) (*uint32, uint32, waitvStep) {
	v := atomic.LoadUint32(m.word)
	step := dyingStepOf(v, m.tid)
	if !m.budget.look(step, woken) {
		m.spent = true
		return nil, 0, waitvDone
	}
	if step == dyingArm {
		// Set the waiters bit, or the kernel will not wake us.
		atomic.CompareAndSwapUint32(m.word, m.tid, m.tid|shm.FutexWaiters)
		v = atomic.LoadUint32(m.word)
		step = dyingStepOf(v, m.tid)
	}
	switch step {
	case dyingWait:
		return m.word, v, waitvSleep
	case dyingArm:
		return nil, 0, waitvAgain // changed under us
	}
	m.died = step == dyingDied
	return nil, 0, waitvDone
}

// settle tells the death, or reports the worker that spent its budget,
// and closes dyingDone.
func (m *dyingMember) settle(now int64) {
	switch {
	case m.died:
		m.p.died(m.tid, now) // closes dyingDone
		return
	case m.spent:
		m.p.violate("robust word 0", "rewritten or woken again and again", "the worker's thread id, armed once, woken once")
	}
	close(m.p.dyingDone)
}

// stays: a word that says its thread died is the thread's to settle
// (Dying comes before Exited); only the others are released.
func (m *dyingMember) stays() bool {
	return dyingStepOf(atomic.LoadUint32(m.word), m.tid) == dyingDied
}

func (m *dyingMember) released() bool { return m.p.dyingReleased.Load() }

// alone gives the process a waiter of its own; released, it closes
// dyingDone.
func (m *dyingMember) alone() {
	go func() {
		if !dyingWaiters.waitAlone(m) {
			close(m.p.dyingDone)
		}
	}()
}

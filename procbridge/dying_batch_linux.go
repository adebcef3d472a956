//go:build linux

package procbridge

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// Death-notice waiters in batches: one thread sleeps in futex_waitv (Linux
// 5.16+) on the robust words of up to batchSize processes and on a control
// word of its own, rather than one thread per process. A wake-up costs a
// look at each word of the batch (a load each); a process added or released
// bumps the control word so the thread builds its list again. Where the
// kernel has no futex_waitv, every process gets its own waiter thread
// (dyingLoop), as before. While warm is held a thread wakes every
// warmSlice as well (warm_linux.go).
var dyingWaiters dyingPool

// batchSize is how many processes one thread watches: futex_waitv takes at
// most 128 words, one of which is the control word.
const batchSize = 127

type dyingPool struct {
	mu      sync.Mutex
	batches []*dyingBatch
	broken  atomic.Bool // futex_waitv is missing: per-process waiters
}

type dyingBatch struct {
	ctl uint32 // bumped, and woken, to make the thread look again

	mu      sync.Mutex // guards members; the pool's mu is taken first
	members map[*Process]dyingMember
	gone    bool // the thread returned: do not add to this batch
}

type dyingMember struct {
	word   *uint32
	tid    uint32
	budget *dyingBudget
}

// add hands p's word to a batch's thread; false when the kernel has no
// futex_waitv (the caller then starts a waiter of its own).
func (d *dyingPool) add(p *Process, word *uint32, tid uint32) bool {
	if d.broken.Load() {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var b *dyingBatch
	for _, c := range d.batches {
		c.mu.Lock()
		if !c.gone && len(c.members) < batchSize {
			b = c
			break // still locked
		}
		c.mu.Unlock()
	}
	if b == nil {
		b = &dyingBatch{members: map[*Process]dyingMember{}}
		b.mu.Lock()
		d.batches = append(d.batches, b)
		go d.run(b)
	}
	b.members[p] = dyingMember{word, tid, &dyingBudget{}}
	b.mu.Unlock()
	b.poke()
	return true
}

// release takes p out of its batch, if it is in one, closing its
// dyingDone, and reports whether it was.
func (d *dyingPool) release(p *Process) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range d.batches {
		b.mu.Lock()
		// A word that says its thread died is the thread's to settle
		// (Dying comes before Exited): only the others are dropped here.
		if m, ok := b.members[p]; ok && !b.gone && dyingStepOf(atomic.LoadUint32(m.word), m.tid) != dyingDied {
			delete(b.members, p)
			b.mu.Unlock()
			b.poke()
			close(p.dyingDone)
			return true
		}
		b.mu.Unlock()
	}
	return false
}

// pokeAll makes every batch's thread look again (and so take up a change
// of warm).
func (d *dyingPool) pokeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range d.batches {
		b.poke()
	}
}

func (b *dyingBatch) poke() {
	atomic.AddUint32(&b.ctl, 1)
	linux.FutexWake(&b.ctl, 1)
}

// drop forgets b once its thread has returned.
func (d *dyingPool) drop(b *dyingBatch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, c := range d.batches {
		if c == b {
			d.batches = append(d.batches[:i], d.batches[i+1:]...)
			return
		}
	}
}

// run is a batch's thread: it looks at every word, settles the processes
// whose words say they died or are done, and sleeps on the rest.
func (d *dyingPool) run(b *dyingBatch) {
	// A thread of its own, prompt to run when the kernel wakes it while
	// the dying worker's threads, and a spare taking over, want the CPUs.
	// Never unlocked: the thread ends with the batch.
	runtime.LockOSThread()
	promptThread()
	type ended struct {
		p     *Process
		tid   uint32
		died  bool
		spent bool // its word broke the waiter's budget
	}
	var (
		ws    []linux.Waitv
		wsOf  []*Process // the process of each word in ws
		end   []ended
		woken *Process // whose word the last wake was on
	)
	for {
		end, ws, wsOf = end[:0], ws[:0], wsOf[:0]
		again := false
		b.mu.Lock()
		if len(b.members) == 0 {
			b.gone = true
			b.mu.Unlock()
			d.drop(b)
			return
		}
		seq := atomic.LoadUint32(&b.ctl) // a poke after this ends the sleep
		for p, m := range b.members {
			v := atomic.LoadUint32(m.word)
			step := dyingStepOf(v, m.tid)
			if !m.budget.look(step, p == woken) {
				end = append(end, ended{p: p, tid: m.tid, spent: true})
				delete(b.members, p)
				continue
			}
			if step == dyingArm {
				// Set the waiters bit, or the kernel will not wake us.
				atomic.CompareAndSwapUint32(m.word, m.tid, m.tid|shm.FutexWaiters)
				v = atomic.LoadUint32(m.word)
				step = dyingStepOf(v, m.tid)
			}
			switch step {
			case dyingWait:
				ws = append(ws, linux.WaitvOn(m.word, v))
				wsOf = append(wsOf, p)
			case dyingArm:
				again = true // changed under us: look again at once
			default:
				end = append(end, ended{p: p, tid: m.tid, died: step == dyingDied})
				delete(b.members, p)
			}
		}
		b.mu.Unlock()
		woken = nil
		now := mono.Now()
		for _, e := range end {
			switch {
			case e.died:
				e.p.died(e.tid, now) // closes dyingDone
				continue
			case e.spent:
				e.p.violate("robust word 0", "rewritten or woken again and again", "the worker's thread id, armed once, woken once")
			}
			close(e.p.dyingDone)
		}
		if len(end) > 0 || again {
			continue
		}
		ws = append(ws, linux.WaitvOn(&b.ctl, seq))
		i, timedOut, err := linux.FutexWaitvUntil(ws, warm.deadline())
		if i >= 0 && i < len(wsOf) {
			woken = wsOf[i]
		}
		if timedOut {
			warm.slices.Add(1)
		}
		if err != nil {
			// ENOSYS before Linux 5.16; anything else must not become a
			// busy loop either.
			d.fallBack(b)
			return
		}
	}
}

// fallBack: the kernel has no futex_waitv (or refused the call). The
// batch's processes, and every one after, get a waiter thread of their own.
func (d *dyingPool) fallBack(b *dyingBatch) {
	d.broken.Store(true)
	b.mu.Lock()
	b.gone = true
	members := b.members
	b.members = nil
	b.mu.Unlock()
	d.drop(b)
	for p, m := range members {
		go p.dyingLoop(m.word, m.tid)
	}
}

//go:build linux

package procbridge

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// Ready waiters in batches: one thread sleeps in futex_waitv (Linux 5.16+)
// on the ready words of up to batchSize starts and on a control word of its
// own, rather than a thread per start. Many starts at once then cost the
// supervisor one sleeping thread per batch instead of one each, with the
// Go runtime's hand-offs of each (a blocked system call's P taken back by
// sysmon, another thread woken to run the rest). A wake costs a look at
// each word of the batch (a load each); a start added or released bumps
// the control word so the thread builds its list again, and the thread
// looks at least every readyLook, for a word written without a wake. Where the kernel
// has no futex_waitv, every start gets a waiter of its own (readyWait.alone),
// as does a start whose worker keeps waking its word without setting it: it
// would make the batch's thread look at every word again and again.
var readyWaiters readyPool

type readyPool struct {
	mu      sync.Mutex
	batches []*readyBatch
	broken  atomic.Bool // futex_waitv is missing: a waiter per start
}

type readyBatch struct {
	ctl uint32 // bumped, and woken, to make the thread look again

	mu      sync.Mutex // guards members; the pool's mu is taken first
	members map[*readyWait]struct{}
	gone    bool // the thread returned: do not add to this batch
}

// readyWait is one start's wait for its ready word to leave ReadyNo.
type readyWait struct {
	word *uint32
	c    chan uint32 // the word's first value other than ReadyNo, sent once

	wakes int // wakes of the word that left it ReadyNo (the batch's thread only)

	// A waiter of its own (alone), where it has one: set under the pool's
	// mu; left is closed when it returns.
	left     chan struct{}
	released atomic.Bool
}

// readyLook bounds a batch's sleep: a word set without a wake is seen
// this late at most.
const readyLook = 100 * time.Millisecond

// readyWakesMax is how often a worker may wake its ready word without
// setting it before its wait leaves the batch for a waiter of its own.
const readyWakesMax = 8

// wait starts the wait on word: its value comes on the returned waiter's
// c, once it is no longer ReadyNo. The caller ends the wait with release.
func (r *readyPool) wait(word *uint32) *readyWait {
	w := &readyWait{word: word, c: make(chan uint32, 1)}
	if v := atomic.LoadUint32(word); v != shm.ReadyNo {
		w.c <- v
		return w
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broken.Load() {
		r.aloneLocked(w)
		return w
	}
	var b *readyBatch
	for _, c := range r.batches {
		c.mu.Lock()
		if !c.gone && len(c.members) < batchSize {
			b = c
			break // still locked
		}
		c.mu.Unlock()
	}
	if b == nil {
		b = &readyBatch{members: map[*readyWait]struct{}{}}
		b.mu.Lock()
		r.batches = append(r.batches, b)
		go r.run(b)
	}
	b.members[w] = struct{}{}
	b.mu.Unlock()
	b.poke()
	return w
}

// release ends w's wait. When it returns, nothing looks at w's word for it
// any more, and nothing more is sent on w.c (a value may have been sent
// already).
func (r *readyPool) release(w *readyWait) {
	r.mu.Lock()
	for _, b := range r.batches {
		b.mu.Lock()
		_, ok := b.members[w]
		delete(b.members, w)
		b.mu.Unlock()
		if ok {
			r.mu.Unlock()
			b.poke()
			return
		}
	}
	left := w.left
	r.mu.Unlock()
	if left == nil {
		return // it was sent its value
	}
	w.released.Store(true)
	linux.FutexWake(w.word, 1<<30)
	<-left
}

// aloneLocked gives w a waiter of its own (r.mu held).
func (r *readyPool) aloneLocked(w *readyWait) {
	w.left = make(chan struct{})
	go w.alone()
}

// alone is a waiter of w's own. Its sleeps are bounded, so that a release
// is seen even when the worker writes its word back to ReadyNo.
func (w *readyWait) alone() {
	defer close(w.left)
	for !w.released.Load() {
		if v := atomic.LoadUint32(w.word); v != shm.ReadyNo {
			w.c <- v
			return
		}
		linux.FutexWait(w.word, shm.ReadyNo, 100*time.Millisecond)
	}
}

func (b *readyBatch) poke() {
	atomic.AddUint32(&b.ctl, 1)
	linux.FutexWake(&b.ctl, 1)
}

// drop forgets b once its thread has returned.
func (r *readyPool) drop(b *readyBatch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, c := range r.batches {
		if c == b {
			r.batches = append(r.batches[:i], r.batches[i+1:]...)
			return
		}
	}
}

// run is a batch's thread: it looks at every word, sends the value of each
// that left ReadyNo, and sleeps on the rest. It is not locked to its
// thread: it keeps no state there, and only blocks in the kernel.
func (r *readyPool) run(b *readyBatch) {
	var (
		ws    []linux.Waitv
		wsOf  []*readyWait // the waiter of each word in ws
		woken *readyWait   // whose word the last wake was on
	)
	for {
		ws, wsOf = ws[:0], wsOf[:0]
		var restless *readyWait
		b.mu.Lock()
		if len(b.members) == 0 {
			b.gone = true
			b.mu.Unlock()
			r.drop(b)
			return
		}
		seq := atomic.LoadUint32(&b.ctl) // a poke after this ends the sleep
		for w := range b.members {
			if v := atomic.LoadUint32(w.word); v != shm.ReadyNo {
				delete(b.members, w)
				w.c <- v // buffered, and sent once
				continue
			}
			if w == woken {
				if w.wakes++; w.wakes > readyWakesMax {
					restless = w
					continue
				}
			}
			ws = append(ws, linux.WaitvOn(w.word, shm.ReadyNo))
			wsOf = append(wsOf, w)
		}
		b.mu.Unlock()
		woken = nil
		if restless != nil {
			r.leave(b, restless)
			continue
		}
		if len(wsOf) == 0 {
			continue // every wait settled: the thread may end
		}
		ws = append(ws, linux.WaitvOn(&b.ctl, seq))
		// Bounded, so that a word written without a wake (a worker that
		// scribbles its segment) is seen.
		i, _, err := linux.FutexWaitvUntil(ws, mono.Now()+int64(readyLook))
		if i >= 0 && i < len(wsOf) {
			woken = wsOf[i]
		}
		clear(wsOf)
		if err != nil {
			// ENOSYS before Linux 5.16; anything else must not become a
			// busy loop either.
			r.fallBack(b)
			return
		}
	}
}

// leave moves w, whose worker keeps waking its word, from b to a waiter of
// its own, unless it was released meanwhile.
func (r *readyPool) leave(b *readyBatch, w *readyWait) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b.mu.Lock()
	_, ok := b.members[w]
	delete(b.members, w)
	b.mu.Unlock()
	if ok {
		r.aloneLocked(w)
	}
}

// fallBack: the kernel has no futex_waitv (or refused the call). The
// batch's starts, and every one after, get a waiter of their own.
func (r *readyPool) fallBack(b *readyBatch) {
	r.broken.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	b.mu.Lock()
	b.gone = true
	members := b.members
	b.members = nil
	b.mu.Unlock()
	for i, c := range r.batches {
		if c == b {
			r.batches = append(r.batches[:i], r.batches[i+1:]...)
			break
		}
	}
	for w := range members {
		r.aloneLocked(w)
	}
}

//go:build linux

package procbridge

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
)

// Waiters in batches: one thread sleeps in futex_waitv (Linux 5.16+) on the
// words of up to batchSize members and on a control word of its own,
// rather than a thread per member. Many members at once then cost the
// supervisor one sleeping thread per batch instead of one each, with the Go
// runtime's hand-offs of each (a blocked system call's P taken back by
// sysmon, another thread woken to run the rest). A wake costs a look at
// each word of the batch (a load each); a member added or released bumps
// the control word so the thread builds its list again. Where the kernel
// has no futex_waitv, every member gets a waiter of its own (waitAlone),
// as does a member whose look sends it away (a worker that keeps waking its
// word would make the batch's thread look at every word again and again).
//
// Two pools share it: the ready words of starts in flight (readyWaiters)
// and the robust words that bring death notices (dyingWaiters). What a
// word's value means is the member's to say.

// batchSize is how many members one thread watches: futex_waitv takes at
// most 128 words, one of which is the control word.
const batchSize = 127

// waitvStep is what a look at a member's word tells the batch's thread.
type waitvStep int

const (
	waitvSleep waitvStep = iota // sleep on the word while it holds the value
	waitvAgain                  // changed under the look: look again at once
	waitvDone                   // out of the batch; settle follows, outside its lock
	waitvAlone                  // as waitvSleep, but out of the batch to a waiter of its own
)

// waitvMember is one word a pool watches, and what its values mean.
type waitvMember interface {
	// look is one look at the word, by the batch's thread under the
	// batch's lock or by the member's own waiter; woken says the last
	// sleep ended on this word. With waitvSleep and waitvAlone it returns
	// the word and the value to sleep on.
	look(woken bool) (word *uint32, val uint32, step waitvStep)
	// settle acts on what a look that returned waitvDone found, outside
	// the batch's lock; now is when it was.
	settle(now int64)
	// alone starts a waiter of the member's own, a goroutine that runs
	// waitAlone (the pool's mu is held).
	alone()
	// released reports whether the member's own waiter is to end.
	released() bool
	// stays reports whether a release must leave the member to the
	// batch's thread, which has an end of it to tell (under the batch's
	// lock).
	stays() bool
}

// waitvPool is the batches of one kind of member, found by key K.
type waitvPool[K comparable, M waitvMember] struct {
	// every bounds each sleep of a batch's thread, so that a word written
	// without a wake is seen this late at most; 0: no bound (a member's
	// own waiter: a second).
	every time.Duration
	// warm: while warm is held, each waiter sleeps in warm's slices
	// (warm_linux.go).
	warm bool
	// prompt: a batch's thread is an OS thread of its own, prompt to run
	// (promptThread).
	prompt bool

	mu      sync.Mutex
	batches []*waitvBatch[K, M]
	broken  atomic.Bool // futex_waitv is missing: a waiter per member
}

type waitvBatch[K comparable, M waitvMember] struct {
	ctl uint32 // bumped, and woken, to make the thread look again

	mu      sync.Mutex // guards members; the pool's mu is taken first
	members map[K]M
	gone    bool // the thread returned: do not add to this batch
}

// add hands m, found by k, to a batch's thread, or to a waiter of its own
// where the kernel has no futex_waitv.
func (p *waitvPool[K, M]) add(k K, m M) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken.Load() {
		m.alone()
		return
	}
	var b *waitvBatch[K, M]
	for _, c := range p.batches {
		c.mu.Lock()
		if !c.gone && len(c.members) < batchSize {
			b = c
			break // still locked
		}
		c.mu.Unlock()
	}
	if b == nil {
		b = &waitvBatch[K, M]{members: map[K]M{}}
		b.mu.Lock()
		p.batches = append(p.batches, b)
		go p.run(b)
	}
	b.members[k] = m
	b.mu.Unlock()
	b.poke()
}

// release takes k out of its batch, unless its member stays for the
// thread to settle, and reports whether it did. When it did, nothing looks
// at the member's word any more.
func (p *waitvPool[K, M]) release(k K) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.batches {
		b.mu.Lock()
		if m, ok := b.members[k]; ok && !b.gone && !m.stays() {
			delete(b.members, k)
			b.mu.Unlock()
			b.poke()
			return true
		}
		b.mu.Unlock()
	}
	return false
}

// pokeAll makes every batch's thread look again (and so take up a change
// of warm).
func (p *waitvPool[K, M]) pokeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.batches {
		b.poke()
	}
}

func (b *waitvBatch[K, M]) poke() {
	atomic.AddUint32(&b.ctl, 1)
	linux.FutexWake(&b.ctl, 1)
}

// dropLocked forgets b (p.mu held).
func (p *waitvPool[K, M]) dropLocked(b *waitvBatch[K, M]) {
	for i, c := range p.batches {
		if c == b {
			p.batches = append(p.batches[:i], p.batches[i+1:]...)
			return
		}
	}
}

// until returns the end of a batch's next sleep, as a CLOCK_MONOTONIC
// time (0: none), and whether it is the end of a warm slice.
func (p *waitvPool[K, M]) until() (end int64, slice bool) {
	if p.every > 0 {
		end = mono.Now() + int64(p.every)
	}
	if p.warm {
		if d := warm.deadline(); d != 0 && (end == 0 || d <= end) {
			return d, true
		}
	}
	return end, false
}

// run is a batch's thread: it looks at every word, settles the members
// whose words say so, and sleeps on the rest.
func (p *waitvPool[K, M]) run(b *waitvBatch[K, M]) {
	if p.prompt {
		// A thread of its own, prompt to run when the kernel wakes it
		// while the dying worker's threads, and a spare taking over, want
		// the CPUs. Never unlocked: the thread ends with the batch.
		// Otherwise it is not locked: it keeps no state on its thread,
		// and only blocks in the kernel.
		runtime.LockOSThread()
		promptThread()
	}
	var (
		ws       []linux.Waitv
		wsOf     []K // the member of each word in ws
		done     []M // out of the batch, to settle
		away     []K // to leave for a waiter of their own
		woken    K   // whose word the last wake was on, if wasWoken
		wasWoken bool
	)
	for {
		ws, wsOf, done, away = ws[:0], wsOf[:0], done[:0], away[:0]
		again := false
		b.mu.Lock()
		if len(b.members) == 0 {
			b.gone = true
			b.mu.Unlock()
			p.mu.Lock()
			p.dropLocked(b)
			p.mu.Unlock()
			return
		}
		seq := atomic.LoadUint32(&b.ctl) // a poke after this ends the sleep
		for k, m := range b.members {
			word, val, step := m.look(wasWoken && k == woken)
			switch step {
			case waitvSleep:
				ws = append(ws, linux.WaitvOn(word, val))
				wsOf = append(wsOf, k)
			case waitvAgain:
				again = true
			case waitvDone:
				delete(b.members, k)
				done = append(done, m)
			case waitvAlone:
				away = append(away, k)
			}
		}
		b.mu.Unlock()
		var none K
		woken, wasWoken = none, false
		if len(done) > 0 {
			now := mono.Now()
			for _, m := range done {
				m.settle(now)
			}
			clear(done)
		}
		for _, k := range away {
			p.leave(b, k)
		}
		if len(done) > 0 || len(away) > 0 || again || len(wsOf) == 0 {
			clear(wsOf)
			clear(away)
			continue
		}
		ws = append(ws, linux.WaitvOn(&b.ctl, seq))
		end, slice := p.until()
		i, timedOut, err := linux.FutexWaitvUntil(ws, end)
		if i >= 0 && i < len(wsOf) {
			woken, wasWoken = wsOf[i], true
		}
		clear(wsOf)
		if timedOut && slice {
			warm.slices.Add(1)
		}
		if err != nil {
			// ENOSYS before Linux 5.16; anything else must not become a
			// busy loop either.
			p.fallBack(b)
			return
		}
	}
}

// leave moves k's member from b to a waiter of its own, unless it was
// released meanwhile.
func (p *waitvPool[K, M]) leave(b *waitvBatch[K, M], k K) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b.mu.Lock()
	m, ok := b.members[k]
	delete(b.members, k)
	b.mu.Unlock()
	if ok {
		m.alone()
	}
}

// fallBack: the kernel has no futex_waitv (or refused the call). The
// batch's members, and every one after, get a waiter of their own. The
// pool's mu is held throughout, so that a release finds each member either
// in the batch or with its waiter.
func (p *waitvPool[K, M]) fallBack(b *waitvBatch[K, M]) {
	p.broken.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	b.mu.Lock()
	b.gone = true
	members := b.members
	b.members = nil
	b.mu.Unlock()
	p.dropLocked(b)
	for _, m := range members {
		m.alone()
	}
}

// waitAlone is a waiter of m's own: it looks at m's word, and sleeps on it,
// until the look settles m (true) or m is released (false). Its sleeps are
// bounded, so that a release is seen even when the worker writes its word
// back, and by warm's slice while it is held.
func (p *waitvPool[K, M]) waitAlone(m M) bool {
	woken := false
	for !m.released() {
		word, val, step := m.look(woken)
		woken = false
		switch step {
		case waitvDone:
			m.settle(mono.Now())
			return true
		case waitvSleep, waitvAlone:
			woken = linux.FutexWaitWoken(word, val, p.aloneBound())
		}
	}
	return false
}

// aloneBound bounds a sleep of a member's own waiter.
func (p *waitvPool[K, M]) aloneBound() time.Duration {
	d := p.every
	if d == 0 {
		d = time.Second
	}
	if p.warm {
		if s := warm.slice(); s > 0 {
			d = s
		}
	}
	return d
}

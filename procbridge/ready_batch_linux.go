//go:build linux

package procbridge

import (
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// Ready waiters in batches (waitv_pool_linux.go): a batch's thread sleeps
// on the ready words of up to batchSize starts, and looks at least every
// readyLook, for a word written without a wake. Where the kernel has no
// futex_waitv, every start gets a waiter of its own (waitAlone), as
// does a start whose worker keeps waking its word without setting it.
var readyWaiters = readyPool{waitvPool[*readyWait, *readyWait]{every: readyLook}}

type readyPool struct {
	waitvPool[*readyWait, *readyWait]
}

// readyWait is one start's wait for its ready word to leave ReadyNo.
type readyWait struct {
	word *uint32
	c    chan uint32 // the word's first value other than ReadyNo, sent once

	wakes int // wakes of the word that left it ReadyNo (its one waiter at a time)

	// A waiter of its own (alone), where it has one: set under the pool's
	// mu; left is closed when it returns.
	left chan struct{}
	gone atomic.Bool // released
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
	r.add(w, w)
	return w
}

// release ends w's wait. When it returns, nothing looks at w's word for it
// any more, and nothing more is sent on w.c (a value may have been sent
// already).
func (r *readyPool) release(w *readyWait) {
	if r.waitvPool.release(w) {
		return
	}
	r.mu.Lock()
	left := w.left
	r.mu.Unlock()
	if left == nil {
		return // it was sent its value
	}
	w.gone.Store(true)
	linux.FutexWake(w.word, 1<<30)
	<-left
}

// look sends the word's value once it has left ReadyNo (under the batch's
// lock, so that nothing is sent after a release), and sends w away once
// its worker has woken the word too often without setting it.
func (w *readyWait) look(woken bool) (*uint32, uint32, waitvStep) {
	if v := atomic.LoadUint32(w.word); v != shm.ReadyNo {
		w.c <- v // buffered, and sent once
		return nil, 0, waitvDone
	}
	if woken {
		if w.wakes++; w.wakes > readyWakesMax {
			return w.word, shm.ReadyNo, waitvAlone
		}
	}
	return w.word, shm.ReadyNo, waitvSleep
}

func (w *readyWait) settle(int64)   {} // look sent the value
func (w *readyWait) stays() bool    { return false }
func (w *readyWait) released() bool { return w.gone.Load() }

// alone gives w a waiter of its own (the pool's mu held); left is closed
// when it returns.
func (w *readyWait) alone() {
	w.left = make(chan struct{})
	go func() {
		defer close(w.left)
		readyWaiters.waitAlone(w)
	}()
}

//go:build linux

package procbridge

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

// readyOf waits for w's value, with a deadline.
func readyOf(t *testing.T, w *readyWait) uint32 {
	t.Helper()
	select {
	case v := <-w.c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("no ready value after 30 s")
		return 0
	}
}

// awaitNoBatches waits until every batch's thread has returned.
func awaitNoBatches(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		readyWaiters.mu.Lock()
		n := len(readyWaiters.batches)
		readyWaiters.mu.Unlock()
		if n == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "%d batches left after 30 s", n)
		time.Sleep(time.Millisecond) // polling an end, under a deadline
	}
}

// TestReadyBatch: the waits of more starts than one batch holds each get
// their word's value, in whatever order the words are set, and those
// released before get none; the batches' threads end with the last wait.
func TestReadyBatch(t *testing.T) {
	const n = 3*batchSize + 5
	words := make([]uint32, n)
	ws := make([]*readyWait, n)
	for i := range ws {
		ws[i] = readyWaiters.wait(&words[i])
	}
	readyWaiters.mu.Lock()
	batches := len(readyWaiters.batches)
	readyWaiters.mu.Unlock()
	if readyWaiters.broken.Load() {
		t.Log("no futex_waitv: a waiter per start")
	} else {
		assert.GreaterOrEqual(t, batches, 4)
	}
	for _, i := range rand.Perm(n) {
		switch i % 3 {
		case 0: // ready
			atomic.StoreUint32(&words[i], shm.ReadyYes)
			linux.FutexWake(&words[i], 1)
			assert.Equal(t, shm.ReadyYes, readyOf(t, ws[i]))
		case 1: // a value of its own: the start rejects it
			atomic.StoreUint32(&words[i], 7)
			linux.FutexWake(&words[i], 1)
			assert.Equal(t, uint32(7), readyOf(t, ws[i]))
		case 2: // released first (a timeout, a death, ctx)
			readyWaiters.release(ws[i])
			atomic.StoreUint32(&words[i], shm.ReadyYes)
			linux.FutexWake(&words[i], 1)
		}
		readyWaiters.release(ws[i]) // a second release does nothing
	}
	for i := 2; i < n; i += 3 {
		select {
		case v := <-ws[i].c:
			t.Errorf("wait %d released, then sent %d", i, v)
		default:
		}
	}
	awaitNoBatches(t)
}

// TestReadyBatchSetBeforeWait: a word set before the wait starts gives its
// value at once, without a batch.
func TestReadyBatchSetBeforeWait(t *testing.T) {
	word := shm.ReadyYes
	w := readyWaiters.wait(&word)
	assert.Equal(t, shm.ReadyYes, readyOf(t, w))
	readyWaiters.release(w)
}

// TestReadyBatchRestless: a worker that keeps waking its word without
// setting it has its wait moved to a waiter of its own, which still sees
// the word set, and a release even when the worker writes the word back.
func TestReadyBatchRestless(t *testing.T) {
	for _, end := range []string{"set", "released"} {
		t.Run(end, func(t *testing.T) {
			var word uint32
			w := readyWaiters.wait(&word)
			deadline := time.Now().Add(30 * time.Second)
			for alone := false; !alone; {
				linux.FutexWake(&word, 1)
				readyWaiters.mu.Lock()
				alone = w.left != nil
				readyWaiters.mu.Unlock()
				require.True(t, time.Now().Before(deadline), "still in its batch after 30 s of wakes")
				if readyWaiters.broken.Load() {
					break
				}
				time.Sleep(time.Millisecond) // a worker's wakes, spaced
			}
			if end == "set" {
				atomic.StoreUint32(&word, shm.ReadyYes)
				linux.FutexWake(&word, 1)
				assert.Equal(t, shm.ReadyYes, readyOf(t, w))
				readyWaiters.release(w)
				return
			}
			// Aborted, then written back by the worker: the release ends
			// the waiter all the same.
			atomic.StoreUint32(&word, shm.ReadyNo)
			readyWaiters.release(w)
			select {
			case v := <-w.c:
				t.Errorf("released, then sent %d", v)
			default:
			}
		})
	}
	awaitNoBatches(t)
}

// TestReadyBatchPerStart: where the kernel has no futex_waitv each start
// has a waiter of its own, with the same results.
func TestReadyBatchPerStart(t *testing.T) {
	readyWaiters.broken.Store(true)
	defer readyWaiters.broken.Store(false)
	words := make([]uint32, 4)
	ws := make([]*readyWait, len(words))
	for i := range ws {
		ws[i] = readyWaiters.wait(&words[i])
	}
	atomic.StoreUint32(&words[0], shm.ReadyYes)
	linux.FutexWake(&words[0], 1)
	assert.Equal(t, shm.ReadyYes, readyOf(t, ws[0]))
	atomic.StoreUint32(&words[1], 9)
	linux.FutexWake(&words[1], 1)
	assert.Equal(t, uint32(9), readyOf(t, ws[1]))
	for _, w := range ws {
		readyWaiters.release(w)
	}
	for _, w := range ws[2:] {
		select {
		case <-w.c:
			t.Error("released, then sent a value")
		default:
		}
	}
}

// TestReadyBatchSilentWrite: a word written without a wake (a worker that
// scribbles its segment) is seen all the same, a readyLook later at most.
func TestReadyBatchSilentWrite(t *testing.T) {
	var word uint32
	w := readyWaiters.wait(&word)
	atomic.StoreUint32(&word, 145)
	assert.Equal(t, uint32(145), readyOf(t, w))
	readyWaiters.release(w)
	awaitNoBatches(t)
}

package linux

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/mono"
)

// TestFutexWait: a wait on a word that holds its value ends at the timeout
// or at a wake; one on a word that changed returns at once.
func TestFutexWait(t *testing.T) {
	var word uint32
	start := mono.Now()
	err := FutexWait(&word, 0, 5*time.Millisecond)
	assert.Equal(t, unix.ETIMEDOUT, err)
	assert.GreaterOrEqual(t, mono.Now()-start, int64(5*time.Millisecond))

	assert.NoError(t, FutexWait(&word, 1, time.Second), "the word no longer holds the value")

	done := make(chan error)
	go func() { done <- FutexWait(&word, 0, 0) }()
	for {
		atomic.StoreUint32(&word, 1)
		FutexWake(&word, 1)
		select {
		case err := <-done:
			require.NoError(t, err)
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// TestFutexWaitUntil: an absolute deadline in the past times out at once,
// and one in the future is kept.
func TestFutexWaitUntil(t *testing.T) {
	var word uint32
	assert.True(t, FutexWaitUntil(&word, 0, mono.Now()-1))
	deadline := mono.Now() + int64(2*time.Millisecond)
	for !FutexWaitUntil(&word, 0, deadline) {
	}
	assert.GreaterOrEqual(t, mono.Now(), deadline)
}

// TestFutexWaitEither: a wake of either word ends the wait.
func TestFutexWaitEither(t *testing.T) {
	for _, second := range []bool{false, true} {
		var a, b uint32
		done := make(chan struct{})
		go func() {
			FutexWaitEither(&a, 0, &b, 0, 0)
			close(done)
		}()
		w := &a
		if second && !waitvMissing.Load() {
			w = &b
		}
		for waiting := true; waiting; {
			atomic.StoreUint32(w, 1)
			FutexWake(w, 1)
			select {
			case <-done:
				waiting = false
			case <-time.After(time.Millisecond):
			}
		}
	}
}

// TestFutexWaitEitherDeadline: with nothing to wake it, the wait ends at
// its deadline, with futex_waitv and without (the fallback on the first
// word alone), and a deadline in the past ends it at once.
func TestFutexWaitEitherDeadline(t *testing.T) {
	missing := waitvMissing.Load()
	defer waitvMissing.Store(missing)
	for _, without := range []bool{false, true} {
		if without {
			waitvMissing.Store(true)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			var a, b uint32
			FutexWaitEither(&a, 0, &b, 0, mono.Now()-1)
			// A signal can end a wait early: wait again until the deadline.
			for deadline := mono.Now() + int64(2*time.Millisecond); mono.Now() < deadline; {
				FutexWaitEither(&a, 0, &b, 0, deadline)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("without futex_waitv %v: the wait outlived its deadline by 10 s", without)
		}
	}
}

// TestFutexWaitv: a word that no longer holds its value ends the wait at
// once, or the kernel has no futex_waitv.
func TestFutexWaitv(t *testing.T) {
	var a, b uint32 = 0, 1
	ws := []Waitv{WaitvOn(&a, 0), WaitvOn(&b, 0)}
	err := FutexWaitv(ws)
	if err == unix.ENOSYS {
		t.Skip("no futex_waitv (Linux < 5.16)")
	}
	assert.NoError(t, err)
}

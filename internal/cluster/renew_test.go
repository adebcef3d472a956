package cluster

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestTicks: the renewal timer returns once a period, again and again,
// and a wait in progress ends when the timer is closed, long before its
// next period, so that a copy's renewals stop with it.
func TestTicks(t *testing.T) {
	deadline := time.After(10 * time.Second)
	wait := func(tk *ticks, n int) <-chan error {
		waited := make(chan error, 1)
		go func() {
			for range n {
				if err := tk.wait(); err != nil {
					waited <- err
					return
				}
			}
			waited <- nil
		}()
		return waited
	}

	often, err := newTicks(5 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer often.close()
	select {
	case err := <-wait(often, 3):
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
	case <-deadline:
		t.Fatal("three periods of 5ms did not pass in 10s")
	}

	rare, err := newTicks(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	waited := wait(rare, 1)
	for !waiting() { // the wait under way, not yet begun at the close
		select {
		case <-deadline:
			t.Fatal("the wait did not begin in 10s")
		default:
			runtime.Gosched()
		}
	}
	rare.close()
	select {
	case err := <-waited:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("a wait ended by close returned %v, want os.ErrClosed", err)
		}
	case <-deadline:
		t.Fatal("a wait did not end when its timer was closed")
	}
}

// waiting says whether a goroutine is in a read of a ticks' timer.
func waiting() bool {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "(*ticks).wait") && strings.Contains(g, "(*FD).Read") {
			return true
		}
	}
	return false
}

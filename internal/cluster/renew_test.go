package cluster

import (
	"errors"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/cluster/wire"
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

// TestEventTakenOnce: a node sends each event of a copy's by datagram,
// then over the remote; the owner tells each once, in order, whichever
// path brings it first, and takes datagrams only from the copy's socket.
func TestEventTakenOnce(t *testing.T) {
	const sock, other = "socket", "another"
	ev := func(seq uint64, kind wire.Event_Kind) *wire.Event {
		return &wire.Event{Key: "k", Epoch: 7, Node: "a", Kind: kind, Seq: seq}
	}
	type arrival struct {
		ev   *wire.Event
		from string // "": over the remote
	}
	for _, tc := range []struct {
		name     string
		peer     string // the copy's socket, named by its first claim by datagram
		arrivals []arrival
		told     []uint64
		ended    bool
	}{
		{name: "datagram first", peer: sock, arrivals: []arrival{
			{ev(1, wire.Event_READY), sock}, {ev(1, wire.Event_READY), ""},
		}, told: []uint64{1}},
		{name: "remote first", peer: sock, arrivals: []arrival{
			{ev(1, wire.Event_READY), ""}, {ev(1, wire.Event_READY), sock},
		}, told: []uint64{1}},
		{name: "a datagram lost", peer: sock, arrivals: []arrival{
			{ev(2, wire.Event_EXITED), sock}, // ahead of 1: left to the remote
			{ev(1, wire.Event_READY), ""}, {ev(2, wire.Event_EXITED), ""},
			{ev(3, wire.Event_STOPPED), sock}, {ev(3, wire.Event_STOPPED), ""},
		}, told: []uint64{1, 2, 3}, ended: true},
		{name: "from another source", peer: sock, arrivals: []arrival{
			{ev(1, wire.Event_EXITED), other},
		}},
		{name: "no claim by datagram yet", arrivals: []arrival{
			{ev(1, wire.Event_READY), sock}, {ev(1, wire.Event_READY), ""},
		}, told: []uint64{1}},
		{name: "unnumbered, from a node that sends no datagrams", arrivals: []arrival{
			{ev(0, wire.Event_READY), ""}, {ev(0, wire.Event_EXITED), ""},
		}, told: []uint64{0, 0}},
		{name: "stale epoch", peer: sock, arrivals: []arrival{
			{&wire.Event{Key: "k", Epoch: 6, Node: "a", Kind: wire.Event_EXITED, Seq: 1}, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{copies: map[string]*Copy{}, lost: map[string]string{}}
			var told []uint64
			cp := &Copy{c: c, key: "k", epoch: 7, node: "a", peer: tc.peer, endc: make(chan struct{}),
				notify: func(e any) { told = append(told, e.(*wire.Event).GetSeq()) }}
			c.copies["k"] = cp
			for _, a := range tc.arrivals {
				c.event(a.ev, a.from)
			}
			if !slices.Equal(told, tc.told) {
				t.Errorf("told %v, want %v", told, tc.told)
			}
			if cp.ended != tc.ended {
				t.Errorf("ended %v, want %v", cp.ended, tc.ended)
			}
		})
	}
}

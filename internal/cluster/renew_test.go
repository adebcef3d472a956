package cluster

import (
	"errors"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/understudy/understudy/internal/cluster/wire"
	"github.com/understudy/understudy/internal/testproc"
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

// TestStartsByDatagram: a node's start server takes each Start that comes
// by datagram whole, and nothing else.
func TestStartsByDatagram(t *testing.T) {
	got := make(chan *wire.Start, 4)
	s, err := listenStarts("127.0.0.1:0", func(m *wire.Start) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	conn, err := net.DialUDP("udp", nil, s.d.conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := &wire.Start{Key: "k", Epoch: 7, OwnerAddress: "127.0.0.1:1", Spec: &wire.Spec{Worker: "copy"}}
	for _, m := range []*wire.Start{{Key: "k", OwnerAddress: "127.0.0.1:1"}, want} { // no epoch: dropped
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte("\xffnot a start")); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case m := <-got:
		if !proto.Equal(m, want) {
			t.Errorf("took %v, want %v", m, want)
		}
	case <-time.After(testproc.Deadline):
		t.Fatal("no Start taken")
	}
	select {
	case m := <-got:
		t.Errorf("took %v as well", m)
	default:
	}
}

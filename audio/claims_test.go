//go:build linux

package audio

import (
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/audio/internal/bus"
)

// claimsHeader is the bus's header size: the fuzzed bytes go after it, over
// every host and node record (the header is the engine's, and Open checks
// it).
const claimsHeader = 256

// claimsBus creates a bus of two hosts with three lanes each, and three
// nodes (one, two and no outputs), for the claims' fuzz target.
func claimsBus(tb testing.TB) *bus.Bus {
	tb.Helper()
	l, err := bus.Plan(bus.Shape{Hosts: 2, Lanes: 3, BlockSize: 16, Outputs: []int{1, 2, 0}})
	require.NoError(tb, err)
	b, err := bus.Create("claims-fuzz", l)
	require.NoError(tb, err)
	tb.Cleanup(func() { b.Close() })
	return b
}

// records returns the bus's bytes after its header, as the fuzz target
// takes them.
func records(tb testing.TB, b *bus.Bus) []byte {
	tb.Helper()
	buf := make([]byte, b.Layout().Total-claimsHeader)
	_, err := b.File().ReadAt(buf, claimsHeader)
	require.NoError(tb, err)
	return buf
}

// FuzzDriverClaims: arbitrary bytes over every host and node record of the
// bus, as node processes may write them, and an arbitrary cycle, set of
// lanes that served, and times. Each of the driver's readers of those
// words returns a value inside what the driver's own record allows: a
// block published only in a lane that served, with Done exactly the
// cycle; a wake time within the block and now; a finish within the cycle,
// a start only before it; moments no later than the driver's look; the
// first cycle of a restarted primary within 1..C; a recovery one of the
// documented three. None panics or loops.
func FuzzDriverClaims(f *testing.F) {
	b := claimsBus(f)
	const C = 1000
	// Seeds: a Done of the cycle in a lane that did not serve; a wake
	// time and a finish far ahead; an Adopted at the maximum; an unknown
	// Recovered; times below zero.
	n0, h0 := b.Node(0), b.Host(0)
	atomic.StoreUint64(n0.Lane(2).Done(), C)
	atomic.StoreInt64(n0.Lane(2).FinishAt(), math.MaxInt64)
	atomic.StoreInt64(n0.Lane(2).StartAt(), math.MaxInt64)
	atomic.StoreInt64(h0.WakeAt(), math.MaxInt64)
	atomic.StoreUint64(h0.Lane(1).Adopted(), math.MaxUint64)
	atomic.StoreUint32(h0.Lane(1).Recovered(), 7)
	atomic.StoreInt64(h0.Lane(1).PromotedAt(), math.MinInt64)
	f.Add(records(f, b), uint64(C), uint32(0b011), uint64(1e12), uint64(1e6), uint64(0))
	f.Add(records(f, b), uint64(C), uint32(math.MaxUint32), uint64(1), uint64(0), uint64(1<<40))
	f.Add(slices.Repeat([]byte{0xff}, 512), uint64(math.MaxUint64), uint32(0b100), uint64(math.MaxUint64), uint64(math.MaxUint64), uint64(math.MaxUint64))
	f.Add([]byte{}, uint64(0), uint32(0), uint64(0), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, words []byte, C uint64, served uint32, start0, span0, ahead0 uint64) {
		if len(words) > b.Layout().Total-claimsHeader {
			words = words[:b.Layout().Total-claimsHeader]
		}
		buf := make([]byte, b.Layout().Total-claimsHeader)
		copy(buf, words)
		if _, err := b.File().WriteAt(buf, claimsHeader); err != nil {
			t.Fatal(err)
		}
		// The driver's own times: a block began at start, now is up to
		// 2^40 ns later, the clock up to as far again.
		start := int64(start0>>2) + 1
		now := start + int64(span0%(1<<40))
		clock := now + int64(ahead0%(1<<40))
		l := b.Layout()
		for i := range l.Outputs {
			n := b.Node(i)
			lane, ok := doneLane(n, served, C)
			if ok {
				if lane < 0 || lane >= l.Lanes || served&(1<<lane) == 0 || atomic.LoadUint64(n.Lane(lane).Done()) != C {
					t.Fatalf("node %d: published in lane %d (served %#b), Done %d, cycle %d", i, lane, served, atomic.LoadUint64(n.Lane(lane).Done()), C)
				}
			} else {
				if lane != -1 {
					t.Fatalf("node %d: not published, lane %d", i, lane)
				}
				for k := range l.Lanes {
					if served&(1<<k) != 0 && atomic.LoadUint64(n.Lane(k).Done()) == C {
						t.Fatalf("node %d: lane %d served and its Done is the cycle, not seen", i, k)
					}
				}
			}
			for k := range l.Lanes {
				r := n.Lane(k)
				began, fin, ok := blockTimes(r, start, now)
				if fin < start || fin > now {
					t.Fatalf("node %d lane %d: finish %d outside the cycle [%d, %d]", i, k, fin, start, now)
				}
				if ok && (began < start || began > fin) {
					t.Fatalf("node %d lane %d: start %d taken outside [%d, %d]", i, k, began, start, fin)
				}
				if lateFinish(r, start, now, now) {
					t.Fatalf("node %d lane %d: a finish after now", i, k)
				}
				if at := claimedAt(atomic.LoadInt64(r.FinishAt()), now); at < 0 || at > now {
					t.Fatalf("node %d lane %d: finish reported at %d, after %d", i, k, at, now)
				}
			}
			if at := claimedAt(atomic.LoadInt64(n.FaultFiredAt()), now); at < 0 || at > now {
				t.Fatalf("node %d: fault struck at %d, after %d", i, at, now)
			}
		}
		for h := range l.Hosts {
			host := b.Host(h)
			w := atomic.LoadInt64(host.WakeAt())
			got := wakeClaim(w, start, now, clock)
			if got < start || got > max(now, clock) {
				t.Fatalf("host %d: wake %d taken as %d, outside [%d, %d]", h, w, got, start, max(now, clock))
			}
			if w >= start && w <= now && got != w {
				t.Fatalf("host %d: a wake %d within the block taken as %d", h, w, got)
			}
			for k := range l.Lanes {
				hl := host.Lane(k)
				if C > 0 {
					if c := adoptedCycle(hl, C); c < 1 || c > C {
						t.Fatalf("host %d lane %d: first cycle %d of a primary that published %d (Adopted %d)", h, k, c, C, atomic.LoadUint64(hl.Adopted()))
					}
				}
				switch rec := recoveryOf(hl); rec {
				case recoveredBefore, recoveredCompute, recoveredReuse:
				default:
					t.Fatalf("host %d lane %d: recovery %q", h, k, rec)
				}
				if at := claimedAt(atomic.LoadInt64(hl.PromotedAt()), now); at < 0 || at > now {
					t.Fatalf("host %d lane %d: promoted at %d, after %d", h, k, at, now)
				}
			}
		}
	})
}

// FuzzDriverWake: the nodes that feed nothing add to the driver's futex
// word and wake it, and any node may do so at will. Whatever sequence of
// sleeps on the word ends early (a wake, a changed value) or times out, the
// driver sleeps on the word only until its budget of early wakes for the
// cycle is spent, and from then on naps between looks: it reports the storm
// once, and a nap lies between 50 µs and the larger of the watchdog window
// and 50 µs, so the driver's looks stay bounded in number and in CPU.
func FuzzDriverWake(f *testing.F) {
	f.Add(uint8(1), []byte{0xff, 0xff, 0xff, 0xff, 0xff}, int64(500_000), int64(2_666_666))
	f.Add(uint8(0), []byte{0x00, 0x01}, int64(100_000), int64(0))
	f.Add(uint8(200), []byte{0xaa, 0x55}, int64(math.MaxInt64), int64(math.MaxInt64))
	f.Add(uint8(3), []byte{}, int64(-1), int64(-1))
	f.Fuzz(func(t *testing.T, terminals uint8, sleeps []byte, window, period int64) {
		budget := 2*int(terminals) + 16
		g := wakeGate{budget: budget}
		early, naps, storms := 0, 0, 0
		for i := range 8 * len(sleeps) {
			futex, storm := g.next()
			if futex {
				if naps > 0 {
					t.Fatalf("look %d: back on the word after %d naps", i, naps)
				}
				if sleeps[i/8]&(1<<(i%8)) != 0 {
					g.woken()
					early++
				}
				if storm {
					t.Fatalf("look %d: a storm while sleeping on the word", i)
				}
				continue
			}
			if early < budget {
				t.Fatalf("look %d: a nap after %d early wakes of %d", i, early, budget)
			}
			naps++
			if storm {
				storms++
				if naps != 1 {
					t.Fatalf("look %d: the storm reported at nap %d", i, naps)
				}
			}
		}
		if early > budget {
			t.Fatalf("%d early wakes, budget %d", early, budget)
		}
		if naps > 0 && storms != 1 || naps == 0 && storms != 0 {
			t.Fatalf("%d storms reported for %d naps", storms, naps)
		}
		if window > 0 {
			if nap := napFor(window, period); nap < int64(50*time.Microsecond) || nap > max(window, int64(50*time.Microsecond)) {
				t.Fatalf("window %d, period %d: nap %d", window, period, nap)
			}
		}
	})
}

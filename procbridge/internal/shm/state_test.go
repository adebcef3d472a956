//go:build linux

package shm

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newSeg(t testing.TB, c Config) *Segment {
	s, err := Create("test", c)
	require.NoError(t, err)
	t.Cleanup(func() { s.CloseFd() })
	return s
}

func TestCommitAndRead(t *testing.T) {
	s := newSeg(t, Config{Lanes: 2, StateSize: 16})
	buf := make([]byte, 16)
	_, _, _, _, err := s.LatestState(buf)
	assert.ErrorIs(t, err, ErrNoState)

	l0 := s.Lane(0)
	require.NoError(t, l0.Commit(0, []byte("one")))
	require.NoError(t, l0.Commit(0, []byte("two!")))
	n, lane, epoch, seq, err := s.LatestState(buf)
	require.NoError(t, err)
	assert.Equal(t, "two!", string(buf[:n]))
	assert.Equal(t, 0, lane)
	assert.Equal(t, uint64(0), epoch)
	assert.Equal(t, uint64(2), seq)

	assert.ErrorIs(t, l0.Commit(0, make([]byte, 17)), ErrStateTooLarge)
}

// TestFencedWriterIgnored: after a promotion, the old primary's late commits
// (older epoch) lose to the new primary's.
func TestFencedWriterIgnored(t *testing.T) {
	s := newSeg(t, Config{Lanes: 2, StateSize: 16})
	buf := make([]byte, 16)
	old, spare := s.Lane(0), s.Lane(1)
	require.NoError(t, old.Commit(0, []byte("before")))
	require.True(t, s.Promote(0, 0, 1))
	assert.False(t, s.Promote(0, 0, 1), "a second promoter of the same primary loses")
	e, active := s.Control()
	assert.Equal(t, uint64(1), e)
	assert.Equal(t, 1, active)

	n, _, _, _, err := s.LatestState(buf)
	require.NoError(t, err)
	require.NoError(t, spare.Commit(e, buf[:n]))      // the spare resumes from it
	require.NoError(t, old.Commit(0, []byte("late"))) // the fenced one wakes up
	require.NoError(t, old.Commit(0, []byte("later")))
	n, lane, _, _, err := s.LatestState(buf)
	require.NoError(t, err)
	assert.Equal(t, "before", string(buf[:n]))
	assert.Equal(t, 1, lane)
}

// TestNoTornRead: a reader racing a writer only ever sees whole commits.
func TestNoTornRead(t *testing.T) {
	s := newSeg(t, Config{Lanes: 1, StateSize: 4096})
	l := s.Lane(0)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		b := make([]byte, 4096)
		for i := uint64(1); !stop.Load(); i++ {
			for j := 0; j < len(b); j += 8 {
				binary.LittleEndian.PutUint64(b[j:], i)
			}
			l.Commit(0, b)
		}
	})
	buf := make([]byte, 4096)
	for range 20000 {
		n, _, _, err := l.ReadState(buf)
		if err == ErrNoState {
			continue
		}
		if err != nil {
			assert.ErrorIs(t, err, ErrTorn)
			continue
		}
		first := binary.LittleEndian.Uint64(buf)
		for j := 0; j < n; j += 8 {
			if v := binary.LittleEndian.Uint64(buf[j:]); v != first {
				t.Fatalf("torn: word %d is %d, word 0 is %d", j/8, v, first)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
}

// TestCorruptSlot: a slot header that lies about its length is an error.
func TestCorruptSlot(t *testing.T) {
	s := newSeg(t, Config{Lanes: 1, StateSize: 16})
	l := s.Lane(0)
	require.NoError(t, l.Commit(0, []byte("x")))
	off := s.slotOff(0, 1)
	atomic.StoreUint32(s.u32(off+slotLen), 1<<30)
	_, _, _, err := l.ReadState(make([]byte, 16))
	assert.ErrorIs(t, err, ErrCorrupt)
}

// FuzzInterruptedCommit kills a commit after any number of its stores: the
// previous commit stays readable.
func FuzzInterruptedCommit(f *testing.F) {
	for i := range 8 {
		f.Add(uint8(i), []byte("next state"))
	}
	f.Fuzz(func(t *testing.T, stopAfter uint8, next []byte) {
		s := newSeg(t, Config{Lanes: 1, StateSize: 64})
		if len(next) > 64 {
			next = next[:64]
		}
		l := s.Lane(0)
		require.NoError(t, l.Commit(3, []byte("committed")))
		// Replay Commit's stores one by one, stopping after stopAfter of them.
		seqWord := s.u64(s.laneState(0) + laneSeqOff)
		nextSeq := atomic.LoadUint64(seqWord) + 1
		off := s.slotOff(0, nextSeq)
		steps := []func(){
			func() { atomic.StoreUint64(s.u64(off+slotSeq), 0) },
			func() { copy(s.mem[off+slotHdrSize:], next[:len(next)/2]) },
			func() { copy(s.mem[off+slotHdrSize:], next) },
			func() { atomic.StoreUint64(s.u64(off+slotEpoch), 4) },
			func() { atomic.StoreUint32(s.u32(off+slotLen), uint32(len(next))) },
			func() { atomic.StoreUint64(s.u64(off+slotSeq), nextSeq) },
			func() { atomic.StoreUint64(seqWord, nextSeq) },
		}
		k := int(stopAfter) % (len(steps) + 1)
		for _, step := range steps[:k] {
			step()
		}
		buf := make([]byte, 64)
		n, epoch, _, err := l.ReadState(buf)
		require.NoError(t, err)
		if k == len(steps) {
			assert.Equal(t, string(next), string(buf[:n]))
			assert.Equal(t, uint64(4), epoch)
		} else {
			assert.Equal(t, "committed", string(buf[:n]), "interrupted after %d stores", k)
			assert.Equal(t, uint64(3), epoch)
		}
	})
}

// TestCommittedState: only the primary's commit at its epoch is accepted,
// then its predecessors' by history, or without history the highest epoch
// below; forged epochs never win.
func TestCommittedState(t *testing.T) {
	s := newSeg(t, Config{Lanes: 3, StateSize: 16})
	buf := make([]byte, 16)
	_, _, _, _, err := s.CommittedState(buf, 0, 0, nil)
	assert.ErrorIs(t, err, ErrNoState)
	require.NoError(t, s.Lane(0).Commit(0, []byte("primary")))
	require.NoError(t, s.Lane(1).Commit(1<<60, []byte("forged")))
	require.NoError(t, s.Lane(2).Commit(0, []byte("spare at E")))
	n, lane, e, _, err := s.CommittedState(buf, 0, 0, nil)
	require.NoError(t, err)
	assert.Equal(t, "primary", string(buf[:n]))
	assert.Equal(t, 0, lane)
	assert.Zero(t, e)

	// Promoted to lane 2 at epoch 1, which has not committed at 1 yet.
	hist := func(e uint64) (int, bool) { return 0, e == 0 }
	n, lane, _, _, err = s.CommittedState(buf, 1, 2, hist)
	require.NoError(t, err)
	assert.Equal(t, "primary", string(buf[:n]), "the predecessor's commit")
	assert.Equal(t, 0, lane)
	n, _, _, _, err = s.CommittedState(buf, 1, 2, nil)
	require.NoError(t, err)
	assert.Equal(t, "primary", string(buf[:n]), "without history: the highest epoch below, ties by sequence")
	require.NoError(t, s.Lane(2).Commit(0, []byte("spare at E again")))
	n, _, _, _, err = s.CommittedState(buf, 1, 2, nil)
	require.NoError(t, err)
	assert.Equal(t, "primary", string(buf[:n]), "without history: the new primary's own slot loses a tie, whatever its sequence")
	require.NoError(t, s.Lane(2).Commit(1, []byte("new primary")))
	n, lane, e, _, err = s.CommittedState(buf, 1, 2, hist)
	require.NoError(t, err)
	assert.Equal(t, "new primary", string(buf[:n]))
	assert.Equal(t, 2, lane)
	assert.Equal(t, uint64(1), e)
	require.NoError(t, s.Lane(0).Commit(0, []byte("late")))
	n, _, _, _, err = s.CommittedState(buf, 1, 2, hist)
	require.NoError(t, err)
	assert.Equal(t, "new primary", string(buf[:n]), "a fenced primary's late commit")
}

// TestCommittedStateInReplacedLane: the primary of epoch 1 (lane 0)
// committed; the spare promoted at epoch 2 (lane 1) died before it adopted;
// the process that replaced the first in lane 0, promoted at epoch 3,
// adopts the commit of epoch 1 in its own lane, not the older one that
// lane 1's earlier process left, and not nothing.
func TestCommittedStateInReplacedLane(t *testing.T) {
	s := newSeg(t, Config{Lanes: 2, StateSize: 16})
	buf := make([]byte, 16)
	require.NoError(t, s.Lane(1).Commit(0, []byte("epoch 0")))
	require.NoError(t, s.Lane(0).Commit(1, []byte("epoch 1")))
	n, lane, e, _, err := s.CommittedState(buf, 3, 0, nil)
	require.NoError(t, err)
	assert.Equal(t, "epoch 1", string(buf[:n]))
	assert.Equal(t, 0, lane)
	assert.Equal(t, uint64(1), e)
}

// FuzzCommittedState: random bytes over the whole state region never make
// the reader panic or read out of bounds, and what it returns satisfies the
// acceptance rule.
func FuzzCommittedState(f *testing.F) {
	f.Add([]byte{}, uint64(0), uint8(0), true)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0}, uint64(1), uint8(1), false)
	s := newSeg(f, Config{Lanes: 3, StateSize: 16})
	l := s.Layout()
	region0 := s.mem[l.StateOff : l.StateOff+3*laneStateSize(16)]
	f.Fuzz(func(t *testing.T, region []byte, epoch uint64, primary uint8, withHist bool) {
		clear(region0)
		copy(region0, region)
		var prev func(uint64) (int, bool)
		if withHist {
			prev = func(e uint64) (int, bool) { return int(e % 3), true }
		}
		buf := make([]byte, 16)
		n, lane, e, _, err := s.CommittedState(buf, epoch, int(primary), prev)
		if err != nil {
			return
		}
		assert.LessOrEqual(t, n, 16)
		switch {
		case e == epoch:
			assert.Equal(t, int(primary), lane, "at the epoch, only the primary")
		case withHist:
			assert.Less(t, e, epoch)
			assert.Equal(t, int(e%3), lane, "below it, the primary history names")
		default:
			assert.Less(t, e, epoch)
		}
	})
}

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

//go:build linux

package shm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/linux"
)

func TestRing(t *testing.T) {
	s := newSeg(t, Config{Lanes: 1, RingSize: 64})
	r, err := s.Ring(ToWorker)
	require.NoError(t, err)
	buf := make([]byte, 64)
	_, err = r.Recv(buf)
	assert.ErrorIs(t, err, ErrRingEmpty)

	require.NoError(t, r.Send([]byte("hello")))                // 16 bytes
	require.NoError(t, r.Send([]byte("0123456789abcdef0123"))) // 32 bytes
	assert.ErrorIs(t, r.Send([]byte("0123456789")), ErrRingFull, "backpressure, not a block or a drop")
	assert.ErrorIs(t, r.Send(make([]byte, 100)), ErrTooLarge)

	n, err := r.Recv(buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))
	require.NoError(t, r.Send([]byte("wraps around")))
	n, err = r.Recv(buf)
	require.NoError(t, err)
	assert.Equal(t, "0123456789abcdef0123", string(buf[:n]))
	n, err = r.Recv(buf)
	require.NoError(t, err)
	assert.Equal(t, "wraps around", string(buf[:n]))
	assert.True(t, r.Empty())
}

func TestRingCorruptIndices(t *testing.T) {
	s := newSeg(t, Config{Lanes: 1, RingSize: 64})
	r, _ := s.Ring(FromWorker)
	buf := make([]byte, 64)
	atomic.StoreUint64(r.tail(), 1000)
	_, err := r.Recv(buf)
	assert.ErrorIs(t, err, ErrRingCorrupt)
	assert.ErrorIs(t, r.Send([]byte("x")), ErrRingCorrupt)

	// A length prefix longer than what is in the ring.
	atomic.StoreUint64(r.head(), 0)
	atomic.StoreUint64(r.tail(), 16)
	binary.LittleEndian.PutUint32(s.mem[r.data:], 1<<20)
	_, err = r.Recv(buf)
	assert.ErrorIs(t, err, ErrRingCorrupt)
}

// TestRingSPSC: a producer and a consumer on two goroutines, the consumer
// sleeping on the futex when the ring is empty.
func TestRingSPSC(t *testing.T) {
	s := newSeg(t, Config{Lanes: 1, RingSize: 256})
	r, _ := s.Ring(ToWorker)
	const n = 20000
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < n; {
			if err := r.Send([]byte(fmt.Sprint(i))); err == nil {
				i++
			}
		}
	})
	buf := make([]byte, 64)
	for i := 0; i < n; {
		m, err := r.Recv(buf)
		if err == ErrRingEmpty {
			word, val := r.Prepare()
			if r.Empty() {
				linux.FutexWait(word, val, 0)
			}
			continue
		}
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(i), string(buf[:m]))
		i++
	}
	wg.Wait()
}

// FuzzRing: whatever a peer writes into the ring's indices and data, the
// reader never panics, never reads outside the ring or past its buffer,
// and a message longer than the buffer is cut and leaves the ring (the
// head moves on by whole 8-byte units, never past the tail); and a Send
// over the same indices either fits or fails without touching them.
func FuzzRing(f *testing.F) {
	f.Add(uint64(0), uint64(16), []byte{5, 0, 0, 0, 0, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'}, uint8(64))
	f.Add(uint64(8), uint64(72), []byte{0xff, 0xff, 0xff, 0xff}, uint8(64))
	f.Add(uint64(0), uint64(40), []byte{30, 0, 0, 0, 0, 0, 0, 0}, uint8(4))
	f.Fuzz(func(t *testing.T, head, tail uint64, data []byte, bufLen uint8) {
		s := newSeg(t, Config{Lanes: 1, RingSize: 64})
		r, _ := s.Ring(ToWorker)
		copy(s.mem[r.data:r.data+64], data)
		atomic.StoreUint64(r.head(), head)
		atomic.StoreUint64(r.tail(), tail)
		checked := r.Check()
		if err := r.Send([]byte("x")); err != nil && !errors.Is(err, ErrRingCorrupt) && !errors.Is(err, ErrRingFull) {
			t.Fatalf("Send: %v", err)
		}
		buf := make([]byte, bufLen)
		for range 10 {
			h0, t0 := atomic.LoadUint64(r.head()), atomic.LoadUint64(r.tail())
			n, err := r.Recv(buf)
			if n > len(buf) {
				t.Fatalf("Recv returned %d bytes into a buffer of %d", n, len(buf))
			}
			if errors.Is(err, io.ErrShortBuffer) {
				h1 := atomic.LoadUint64(r.head())
				if n != len(buf) || h1 <= h0 || (h1-h0)%8 != 0 || h1-h0 > t0-h0 {
					t.Fatalf("a cut message: n %d, head %d → %d, tail %d", n, h0, h1, t0)
				}
				continue
			}
			if err != nil {
				if checked == nil && errors.Is(err, ErrRingCorrupt) {
					t.Fatalf("Check passed the ring, Recv found it corrupt: %v", err)
				}
				break
			}
		}
		// Resync from either side leaves a sound, empty ring.
		for _, producer := range []bool{true, false} {
			atomic.StoreUint64(r.head(), head)
			atomic.StoreUint64(r.tail(), tail)
			r.Resync(producer)
			if err := r.Check(); err != nil || !r.Empty() {
				t.Fatalf("Resync(%v) of head %d tail %d: %v, empty %v", producer, head, tail, err, r.Empty())
			}
		}
	})
}

// TestRingResync: after the peer scribbled its index, Resync from the
// supervisor's side sets it to ours and the ring carries messages again;
// Check finds a corrupt length that the indices alone do not show.
func TestRingResync(t *testing.T) {
	s := newSeg(t, Config{Lanes: 1, RingSize: 64})
	to, _ := s.Ring(ToWorker)
	require.NoError(t, to.Send([]byte("a")))
	atomic.StoreUint64(to.head(), 12345) // the consumer's index
	require.ErrorIs(t, to.Check(), ErrRingCorrupt)
	to.Resync(true)
	assert.Equal(t, uint64(16), atomic.LoadUint64(to.head()), "the head is the producer's tail")
	require.NoError(t, to.Send([]byte("b")))
	buf := make([]byte, 8)
	n, err := to.Recv(buf)
	require.NoError(t, err)
	assert.Equal(t, "b", string(buf[:n]))

	from, _ := s.Ring(FromWorker)
	require.NoError(t, from.Send([]byte("c")))
	binary.LittleEndian.PutUint32(s.mem[from.data:], 1<<20) // a length past the tail
	require.ErrorIs(t, from.Check(), ErrRingCorrupt)
	from.Resync(false)
	require.NoError(t, from.Check())
	assert.True(t, from.Empty(), "the consumer drops what it cannot read")
}

// TestRingCutsALongMessage: a message longer than the reader's buffer is
// cut to the buffer and leaves the ring, so the next one reads whole.
func TestRingCutsALongMessage(t *testing.T) {
	s := newSeg(t, Config{Lanes: 1, RingSize: 4096})
	r, _ := s.Ring(FromWorker)
	long := bytes.Repeat([]byte("0123456789abcdef"), 128) // 2 KiB
	require.NoError(t, r.Send(long))
	require.NoError(t, r.Send([]byte("next")))
	buf := make([]byte, 64)
	n, err := r.Recv(buf)
	assert.ErrorIs(t, err, io.ErrShortBuffer)
	assert.Equal(t, long[:64], buf[:n])
	n, err = r.Recv(buf)
	require.NoError(t, err)
	assert.Equal(t, "next", string(buf[:n]))
	assert.True(t, r.Empty())
}

// TestRingSurvivesACrashOfEitherSide: a producer that dies in the middle of
// Send (its bytes written, the tail not yet published) leaves nothing
// visible, and its successor's messages read intact; a consumer that dies
// in the middle of Recv (the copy made, the head not yet published) leaves
// the message for its successor: delivery is at least once, never torn.
func TestRingSurvivesACrashOfEitherSide(t *testing.T) {
	s := newSeg(t, Config{Lanes: 1, RingSize: 64})
	r, _ := s.Ring(ToWorker)
	buf := make([]byte, 64)

	// The producer dies after writing a message but before publishing it.
	tail := atomic.LoadUint64(r.tail())
	var hdr [msgHdr]byte
	binary.LittleEndian.PutUint32(hdr[:], 5)
	r.put(tail, hdr[:])
	r.put(tail+msgHdr, []byte("torn!"))
	_, err := r.Recv(buf)
	assert.ErrorIs(t, err, ErrRingEmpty, "an unpublished message is invisible")
	// Its successor sends over the same bytes.
	require.NoError(t, r.Send([]byte("whole")))
	n, err := r.Recv(buf)
	require.NoError(t, err)
	assert.Equal(t, "whole", string(buf[:n]))

	// The consumer dies after copying a message but before publishing head.
	require.NoError(t, r.Send([]byte("again")))
	head := atomic.LoadUint64(r.head())
	n, err = r.Recv(buf)
	require.NoError(t, err)
	require.Equal(t, "again", string(buf[:n]))
	atomic.StoreUint64(r.head(), head) // undo the publish: the crash came first
	n, err = r.Recv(buf)
	require.NoError(t, err)
	assert.Equal(t, "again", string(buf[:n]), "the successor gets the message again")
	assert.True(t, r.Empty())
}

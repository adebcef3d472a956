package shm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/understudy/understudy/internal/linux"
)

// Ring errors.
var (
	// ErrRingFull: the message does not fit in the ring's free space now
	// (backpressure: the caller decides whether to retry, drop or fail).
	ErrRingFull = errors.New("shm: ring full")
	// ErrRingEmpty: nothing to receive.
	ErrRingEmpty = errors.New("shm: ring empty")
	// ErrRingCorrupt: the ring's indices or a message length read from the
	// peer cannot be right.
	ErrRingCorrupt = errors.New("shm: corrupt ring")
	// ErrNoRing: the segment has no rings (RingSize 0).
	ErrNoRing = errors.New("shm: the segment has no command rings (RingSize 0)")
	// ErrTooLarge: a message larger than a ring can ever hold.
	ErrTooLarge = errors.New("shm: message larger than the ring")
)

// Rings of a segment.
const (
	ToWorker   = 0 // supervisor → worker
	FromWorker = 1 // worker → supervisor
)

// msgHdr is a message's length prefix; messages are padded to 8 bytes.
const msgHdr = 8

// Ring is a single-producer single-consumer byte ring in shared memory:
// length-prefixed messages between two monotonically increasing indices.
// The consumer sleeps on a futex only after saying so in the waiters word,
// so a producer makes the wake-up system call only when someone sleeps.
type Ring struct {
	seg  *Segment
	off  int // header
	data int // first data byte
	size uint64
}

// Ring returns ring i (ToWorker or FromWorker).
func (s *Segment) Ring(i int) (*Ring, error) {
	if s.layout.RingSize == 0 {
		return nil, ErrNoRing
	}
	if i != ToWorker && i != FromWorker {
		return nil, fmt.Errorf("shm: ring %d: want %d or %d", i, ToWorker, FromWorker)
	}
	off := s.layout.RingsOff + i*(ringHdrSize+s.layout.RingSize)
	return &Ring{seg: s, off: off, data: off + ringHdrSize, size: uint64(s.layout.RingSize)}, nil
}

func (r *Ring) head() *uint64    { return r.seg.u64(r.off + ringHead) }
func (r *Ring) tail() *uint64    { return r.seg.u64(r.off + ringTail) }
func (r *Ring) waiters() *uint32 { return r.seg.u32(r.off + ringWaiters) }

// Cap returns the largest message the ring can hold.
func (r *Ring) Cap() int { return int(r.size) - msgHdr }

// indices loads and checks the indices: whatever the peer wrote, tail−head
// must be a whole number of 8-byte units no larger than the ring.
func (r *Ring) indices() (head, tail uint64, err error) {
	head = atomic.LoadUint64(r.head())
	tail = atomic.LoadUint64(r.tail())
	if tail-head > r.size || head%8 != 0 || tail%8 != 0 {
		return 0, 0, fmt.Errorf("%w: head %d, tail %d, size %d", ErrRingCorrupt, head, tail, r.size)
	}
	return head, tail, nil
}

// Send appends msg (producer side). It never blocks: when the ring has no
// room it returns ErrRingFull. It wakes the consumer only if it sleeps.
func (r *Ring) Send(msg []byte) error {
	need := uint64(msgHdr + roundUp(len(msg), 8))
	if need > r.size {
		return fmt.Errorf("%w: %d bytes, ring of %d", ErrTooLarge, len(msg), r.size)
	}
	head, tail, err := r.indices()
	if err != nil {
		return err
	}
	if r.size-(tail-head) < need {
		return fmt.Errorf("%w: %d bytes wanted, %d free", ErrRingFull, need, r.size-(tail-head))
	}
	var hdr [msgHdr]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(msg)))
	r.put(tail, hdr[:])
	r.put(tail+msgHdr, msg)
	atomic.StoreUint64(r.tail(), tail+need)
	if atomic.LoadUint32(r.waiters()) != 0 {
		atomic.StoreUint32(r.waiters(), 0)
		wakeConsumer(r.waiters())
	}
	return nil
}

// Recv copies the next message into buf and returns its length (consumer
// side), or ErrRingEmpty. A message longer than buf is cut to buf, as a
// datagram socket does, and the error wraps io.ErrShortBuffer: the message
// leaves the ring all the same, so that one the reader cannot hold never
// jams it.
func (r *Ring) Recv(buf []byte) (int, error) {
	head, tail, err := r.indices()
	if err != nil {
		return 0, err
	}
	if head == tail {
		return 0, ErrRingEmpty
	}
	var hdr [msgHdr]byte
	r.get(head, hdr[:])
	n := uint64(binary.LittleEndian.Uint32(hdr[:]))
	need := uint64(msgHdr) + uint64(roundUp(int(n), 8))
	if need > tail-head {
		return 0, fmt.Errorf("%w: message of %d bytes, %d in the ring", ErrRingCorrupt, n, tail-head)
	}
	if n > uint64(len(buf)) {
		r.get(head+msgHdr, buf)
		atomic.StoreUint64(r.head(), head+need)
		return len(buf), fmt.Errorf("shm: ring: message of %d bytes cut to the buffer's %d: %w", n, len(buf), io.ErrShortBuffer)
	}
	r.get(head+msgHdr, buf[:n])
	atomic.StoreUint64(r.head(), head+need)
	return int(n), nil
}

// Check walks every message between head and tail and reports an error
// wrapping ErrRingCorrupt when the indices, or a message's length, cannot
// be right. It reads no more than tail − head bytes of headers.
func (r *Ring) Check() error {
	head, tail, err := r.indices()
	if err != nil {
		return err
	}
	var hdr [msgHdr]byte
	for at := head; at != tail; {
		r.get(at, hdr[:])
		n := uint64(binary.LittleEndian.Uint32(hdr[:]))
		need := uint64(msgHdr) + uint64(roundUp(int(n), 8))
		if need > tail-at {
			return fmt.Errorf("%w: message of %d bytes at %d, %d left in the ring", ErrRingCorrupt, n, at, tail-at)
		}
		at += need
	}
	return nil
}

// Resync empties the ring from one side, dropping whatever is in it: the
// peer's index is set to ours (producer: the head to the tail; consumer:
// the tail to the head). Ours is set to 0 first when it is not a multiple
// of 8. The supervisor calls it after blaming the peer for a corrupt ring,
// so that the next peer finds it empty and sound.
func (r *Ring) Resync(producer bool) {
	mine, theirs := r.head(), r.tail()
	if producer {
		mine, theirs = theirs, mine
	}
	at := atomic.LoadUint64(mine)
	if at%8 != 0 {
		at = 0
		atomic.StoreUint64(mine, at)
	}
	atomic.StoreUint64(theirs, at)
}

// Prepare returns the futex word a consumer sleeps on, and the value to
// sleep with, after announcing itself: the consumer calls Prepare, checks
// the ring once more, then waits on the word while it holds the value.
func (r *Ring) Prepare() (word *uint32, val uint32) {
	atomic.StoreUint32(r.waiters(), 1)
	return r.waiters(), 1
}

// Empty reports whether the ring holds no message.
func (r *Ring) Empty() bool {
	h, t, err := r.indices()
	return err == nil && h == t
}

// Release wakes a consumer sleeping on the ring (to make it give up).
func (r *Ring) Release() {
	atomic.StoreUint32(r.waiters(), 0)
	wakeConsumer(r.waiters())
}

// wakeConsumer wakes every thread asleep on a ring's waiters word, not
// one: the consumer of a ring can change with a failover, and a SIGKILLed
// consumer's thread stays queued on the futex until the kernel runs it to
// its exit. Waking one could pick that dying thread and leave the new
// consumer asleep with a message in the ring. There is one live consumer,
// so waking all costs nothing more.
func wakeConsumer(word *uint32) { linux.FutexWake(word, 1<<30) }

func (r *Ring) put(at uint64, b []byte) {
	for len(b) > 0 {
		i := int(at % r.size)
		n := copy(r.seg.mem[r.data+i:r.data+int(r.size)], b)
		b, at = b[n:], at+uint64(n)
	}
}

func (r *Ring) get(at uint64, b []byte) {
	for len(b) > 0 {
		i := int(at % r.size)
		n := copy(b, r.seg.mem[r.data+i:r.data+int(r.size)])
		b, at = b[n:], at+uint64(n)
	}
}

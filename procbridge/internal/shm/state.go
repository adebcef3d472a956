package shm

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// State errors.
var (
	// ErrStateTooLarge: a commit larger than the slot.
	ErrStateTooLarge = errors.New("shm: state larger than its slot")
	// ErrNoState: the segment has no state region, or nothing was committed.
	ErrNoState = errors.New("shm: no state committed")
	// ErrTorn: the writer kept overwriting the slot being read.
	ErrTorn = errors.New("shm: state kept changing while read")
	// ErrCorrupt: a slot's header does not describe its data.
	ErrCorrupt = errors.New("shm: corrupt state slot")
)

// laneState returns the offset of lane i's state region.
func (s *Segment) laneState(i int) int {
	return s.layout.StateOff + i*laneStateSize(s.layout.StateSize)
}

func (s *Segment) slotOff(lane int, slot uint64) int {
	return s.laneState(lane) + lineSize + int(slot%2)*(slotHdrSize+roundUp(s.layout.StateSize, lineSize))
}

// Commit publishes data as the lane's latest state, tagged with epoch. In
// the slot the last commit did not use, it clears the sequence, writes the
// data, the epoch and the length, then the sequence; then it moves the
// lane's sequence word on: a writer that dies at any instant leaves the
// previous commit readable. Only the lane's own process calls it.
func (l *Lane) Commit(epoch uint64, data []byte) error {
	s := l.seg
	if s.layout.StateSize == 0 {
		return fmt.Errorf("%w: the segment has no state region (StateSize 0)", ErrNoState)
	}
	if len(data) > s.layout.StateSize {
		return fmt.Errorf("%w: %d bytes, slot holds %d", ErrStateTooLarge, len(data), s.layout.StateSize)
	}
	seqWord := s.u64(s.laneState(l.index) + laneSeqOff)
	next := atomic.LoadUint64(seqWord) + 1
	off := s.slotOff(l.index, next)
	atomic.StoreUint64(s.u64(off+slotSeq), 0) // the slot is being written
	copy(s.mem[off+slotHdrSize:], data)
	atomic.StoreUint64(s.u64(off+slotEpoch), epoch)
	atomic.StoreUint32(s.u32(off+slotLen), uint32(len(data)))
	atomic.StoreUint64(s.u64(off+slotSeq), next)
	atomic.StoreUint64(seqWord, next)
	return nil
}

// maxReadTries bounds the retries of a reader racing a writer, and
// maxReadCopies the copies of the state among them: a writer flipping the
// slot's sequence could otherwise make each read copy the slot every try.
const (
	maxReadTries  = 64
	maxReadCopies = 4
)

// ReadState copies lane i's latest commit into buf (which must hold
// StateSize bytes) and returns its length, epoch and sequence number. The
// lane's writer may be running; the read retries until it sees a commit
// that did not change under it. Every length read from the segment is
// checked against the slot.
func (l *Lane) ReadState(buf []byte) (n int, epoch, seq uint64, err error) {
	s := l.seg
	if s.layout.StateSize == 0 {
		return 0, 0, 0, fmt.Errorf("%w: the segment has no state region (StateSize 0)", ErrNoState)
	}
	seqWord := s.u64(s.laneState(l.index) + laneSeqOff)
	copies := 0
	for range maxReadTries {
		seq = atomic.LoadUint64(seqWord)
		if seq == 0 {
			return 0, 0, 0, ErrNoState
		}
		off := s.slotOff(l.index, seq)
		if atomic.LoadUint64(s.u64(off+slotSeq)) != seq {
			continue // overwritten since: look again
		}
		epoch = atomic.LoadUint64(s.u64(off + slotEpoch))
		length := int(atomic.LoadUint32(s.u32(off + slotLen)))
		if length > s.layout.StateSize {
			return 0, 0, 0, fmt.Errorf("%w: lane %d slot length %d, slot holds %d", ErrCorrupt, l.index, length, s.layout.StateSize)
		}
		if len(buf) < length {
			return 0, 0, 0, fmt.Errorf("shm: read state: buffer of %d bytes for %d", len(buf), length)
		}
		if copies++; copies > maxReadCopies {
			break
		}
		copy(buf, s.mem[off+slotHdrSize:off+slotHdrSize+length])
		// The writer reuses this slot only two commits later, and clears
		// its sequence first: if it still reads seq, the copy is whole. (A
		// compare-and-swap, not a load: it is a full barrier everywhere, so
		// the copy's loads cannot drift past the check.)
		if !atomic.CompareAndSwapUint64(s.u64(off+slotSeq), seq, seq) {
			continue
		}
		return length, epoch, seq, nil
	}
	return 0, 0, 0, fmt.Errorf("%w: lane %d, %d copies", ErrTorn, l.index, copies)
}

// slotHead returns lane i's latest sequence and the epoch its slot claims
// (0, 0 when it never committed), without copying anything.
func (s *Segment) slotHead(i int) (seq, epoch uint64) {
	seq = atomic.LoadUint64(s.u64(s.laneState(i) + laneSeqOff))
	if seq == 0 {
		return 0, 0
	}
	return seq, atomic.LoadUint64(s.u64(s.slotOff(i, seq) + slotEpoch))
}

// CommittedState copies the committed state into buf: the commit of the
// primary, lane primary, at epoch, and only that. Every lane's slots are
// writable by every process of the segment, so a slot's epoch is only its
// writer's claim; the rule keeps a spare, or a fenced primary, from winning
// by writing its own slot or by inflating an epoch:
//
//  1. the primary's latest commit, if its epoch is exactly epoch;
//  2. else (the new primary has not committed yet) the commit of the
//     primary before it: with prev, which names the primary of each older
//     epoch, the lane prev(e) at exactly e, for e = epoch-1, epoch-2, ...
//     while prev knows;
//  3. without prev, the commit with the highest epoch strictly below epoch
//     in any lane; on a tie, another lane's before the primary's, then the
//     higher sequence. The primary's own lane counts: a process that
//     replaced an earlier primary in it serves it now, and that primary's
//     commit is the latest when the one promoted between them died before
//     it adopted.
//
// A slot with an epoch above epoch, or at epoch from another lane, is
// never returned. It returns the lane and epoch of what it copied, or
// ErrNoState.
func (s *Segment) CommittedState(buf []byte, epoch uint64, primary int, prev func(e uint64) (lane int, ok bool)) (n, lane int, e, seq uint64, err error) {
	if s.layout.StateSize == 0 {
		return 0, 0, 0, 0, fmt.Errorf("%w: the segment has no state region (StateSize 0)", ErrNoState)
	}
	read := func(i int, want uint64) (bool, error) {
		if i < 0 || i >= s.layout.Lanes {
			return false, nil
		}
		if _, claim := s.slotHead(i); claim != want {
			return false, nil
		}
		n, e, seq, err = s.Lane(i).ReadState(buf)
		if errors.Is(err, ErrNoState) || err == nil && e != want {
			return false, nil // rewritten since
		}
		lane = i
		return err == nil, err
	}
	if ok, err := read(primary, epoch); ok || err != nil {
		return n, lane, e, seq, err
	}
	if prev != nil {
		for back := uint64(1); back <= epoch && back <= MaxLanes+1; back++ {
			l, ok := prev(epoch - back)
			if !ok {
				break
			}
			if ok, err := read(l, epoch-back); ok || err != nil {
				return n, lane, e, seq, err
			}
		}
		return 0, 0, 0, 0, ErrNoState
	}
	best, top := -1, rank{}
	for i := range s.layout.Lanes {
		sq, claim := s.slotHead(i)
		if sq == 0 || claim >= epoch {
			continue
		}
		if r := (rank{claim, i != primary, sq}); best < 0 || r.above(top) {
			best, top = i, r
		}
	}
	if best >= 0 {
		if ok, err := read(best, top.epoch); ok || err != nil {
			return n, lane, e, seq, err
		}
	}
	return 0, 0, 0, 0, ErrNoState
}

// rank orders the commits rule 3 of CommittedState chooses among: the
// epoch a slot claims, whether it is another lane than the primary's, and
// its sequence.
type rank struct {
	epoch uint64
	other bool
	seq   uint64
}

// above reports whether r counts before b: the higher epoch; on a tie,
// another lane's before the primary's own, so that what a spare wrote in
// its own slot before its promotion never beats the primary it succeeds;
// then the higher sequence.
func (r rank) above(b rank) bool {
	switch {
	case r.epoch != b.epoch:
		return r.epoch > b.epoch
	case r.other != b.other:
		return r.other
	}
	return r.seq > b.seq
}

// LatestState copies the latest commit of any lane — the highest epoch, and
// within it the highest sequence — into buf. It trusts every slot's claim
// of its epoch, so it serves diagnostics and tests only; readers that act
// on the state use CommittedState.
func (s *Segment) LatestState(buf []byte) (n, lane int, epoch, seq uint64, err error) {
	best := -1
	var bestE, bestS uint64
	for i := range s.layout.Lanes {
		l := s.Lane(i)
		sw := atomic.LoadUint64(s.u64(s.laneState(i) + laneSeqOff))
		if sw == 0 {
			continue
		}
		e := atomic.LoadUint64(s.u64(s.slotOff(i, sw) + slotEpoch))
		if best < 0 || e > bestE || (e == bestE && sw > bestS) {
			best, bestE, bestS = l.index, e, sw
		}
	}
	if best < 0 {
		return 0, 0, 0, 0, ErrNoState
	}
	n, epoch, seq, err = s.Lane(best).ReadState(buf)
	return n, best, epoch, seq, err
}

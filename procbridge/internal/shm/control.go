package shm

import "sync/atomic"

// The control word (epoch<<8 | primary lane) is written with plain stores
// by whoever maps the segment, so the supervisor keeps its own copy and
// reads the word only to reconcile the two.

// MaxEpoch bounds the epochs a control word may carry: an epoch at or
// above it could wrap when promoted (the word holds 56 bits of epoch).
const MaxEpoch = 1 << 55

// Reconciled is what a control word seen in shared memory means against
// the supervisor's own copy.
type Reconciled int

const (
	// ControlSame: the word is the copy.
	ControlSame Reconciled = iota
	// ControlPromoted: a spare promoted itself, as a spare woken by the
	// kernel does: the next epoch, naming another lane in range.
	ControlPromoted
	// ControlCorrupt: no promotion leaves this word: a lane out of range,
	// an epoch that is neither the copy's nor the next, or the next epoch
	// naming the primary's own lane.
	ControlCorrupt
)

// Reconcile judges seen, the control word as read, against auth, the
// supervisor's copy, for a segment of lanes lanes.
func Reconcile(auth, seen uint64, lanes int) Reconciled {
	if seen == auth {
		return ControlSame
	}
	authE, authL := auth>>8, auth&0xff
	e, l := seen>>8, seen&0xff
	if authE+1 < MaxEpoch && e == authE+1 && l < uint64(max(lanes, 0)) && l != authL {
		return ControlPromoted
	}
	return ControlCorrupt
}

// ControlWord returns the control word as stored, for the supervisor to
// reconcile with its copy.
func (s *Segment) ControlWord() uint64 { return atomic.LoadUint64(s.u64(offControl)) }

// ControlAddr returns the control word in place (see HeartbeatWords).
func (s *Segment) ControlAddr() *uint64 { return s.u64(offControl) }

// CompareAndSwapControl replaces the control word old with next.
func (s *Segment) CompareAndSwapControl(old, next uint64) bool {
	return atomic.CompareAndSwapUint64(s.u64(offControl), old, next)
}

// StoreControl overwrites the control word (the supervisor restoring its
// copy over a corrupt value).
func (s *Segment) StoreControl(v uint64) { atomic.StoreUint64(s.u64(offControl), v) }

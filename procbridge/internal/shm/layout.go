// Package shm is the shared-memory layout that a supervisor and its worker
// processes agree on, and the atomic accessors and futexes over it.
//
// A segment is one memfd, mapped MAP_SHARED by the supervisor and by every
// process that serves the same child (the primary and its standby spares).
// It starts with a fixed header, then one lane per process that may run at
// once, then the double-buffered state region, then two SPSC command rings:
//
//	offset 0      header (256 bytes): magic, layout version, sizes, offsets,
//	              the worker's attach verdict, the heartbeat interval and
//	              timeout; control line at 128: the control word
//	              (epoch << 8 | active lane)
//	lanesOff      lanes × LaneSize: per process heartbeat counter and time,
//	              a mark, ready word, pid, robust thread's TID, a parking
//	              futex, robust-list entries and their words
//	stateOff      state, per lane: a sequence word, then two slots (seq,
//	              epoch, length, data of StateSize bytes), so a reader never
//	              sees a torn state and a fenced writer only writes its own lane
//	ringsOff      two rings (supervisor→worker, worker→supervisor), each
//	              three cache lines of indices and a futex, then RingSize bytes
//
// The first five fields (magic, version, header size, total size, attach
// verdict: bytes 0 to 27) keep their offsets in every layout version, so
// that a worker built against another version can still say why it refuses
// the segment.
//
// Every number read from the segment comes from a peer that may be buggy or
// hostile; the accessors here validate sizes and offsets against the real
// mapping and never index out of it.
package shm

import (
	"errors"
	"fmt"
)

// Magic is the first word of every segment: "UNDRSTDY" in little-endian.
const Magic uint64 = 0x5944545352444e55

// Version is the layout version this package reads and writes.
const Version uint32 = 1

// Sizes of the fixed parts of the layout.
const (
	HeaderSize = 256
	LaneSize   = 512
	lineSize   = 64
	// MaxLanes bounds the lanes of one segment: a primary and its spares.
	// A spare on lane L parks on robust word 1+L of the primary's lane.
	MaxLanes = RobustWords - 1
	// MaxStateSize bounds one state slot.
	MaxStateSize = 1 << 30
	// MaxRingSize bounds one command ring.
	MaxRingSize = 1 << 26
	// RobustWords is how many robust-futex words a lane holds: one for the
	// supervisor's waiter and one for each spare that parks on it.
	RobustWords = 16
)

// Header offsets. The first five never move between versions.
const (
	offMagic      = 0  // u64
	offVersion    = 8  // u32
	offHeaderSize = 12 // u32
	offTotalSize  = 16 // u64
	offAttachErr  = 24 // u32: AttachVerdict written by the worker
	offLanes      = 28 // u32
	offLaneSize   = 32 // u32
	offStateSize  = 36 // u32
	offRingSize   = 40 // u32
	offFlags      = 44 // u32
	offHBInterval = 48 // i64 ns
	offLanesOff   = 56 // u64
	offStateOff   = 64 // u64
	offRingsOff   = 72 // u64
	offHBTimeout  = 80 // i64 ns

	offControl = 128 // u64: epoch << 8 | active lane, changed only by CAS
)

// Lane offsets, relative to the lane's start.
const (
	laneHeartbeat = 0   // u64 counter, bumped by the worker
	laneLastBeat  = 8   // i64 CLOCK_MONOTONIC ns of the last beat
	laneMark      = 16  // i64 a timestamp the worker may leave (benchmarks)
	laneReady     = 64  // u32 futex: ReadyNo, ReadyYes, ReadyAborted
	lanePid       = 68  // u32 the pid that attached to the lane
	laneRobustTid = 80  // u32 the TID of the worker's robust-list thread
	laneParkLoops = 84  // u32 times a parked spare woke and looked (tests watch it)
	lanePark      = 128 // u32 futex: the lane parks here until promoted
	laneRobust    = 192 // robust list: entry pointers then the words
)

// Ready word values.
const (
	ReadyNo      uint32 = 0
	ReadyYes     uint32 = 1
	ReadyAborted uint32 = 2 // written by the supervisor to release a waiter
)

// The robust-futex bits of a word that holds an owner's TID.
const (
	FutexWaiters   = 0x80000000
	FutexOwnerDied = 0x40000000
	FutexTIDMask   = 0x3fffffff
)

// Park word values.
const (
	ParkWaiting  uint32 = 0 // a spare sleeps here
	ParkPromoted uint32 = 1 // written by whoever promoted the lane
)

// AttachVerdict is what a worker writes at offAttachErr when it refuses the
// segment, so the supervisor can say why the worker exited. The worker
// then exits with ExitRefused: every process of a segment can write the
// word, so the supervisor believes it only of a process that exited so.
type AttachVerdict uint32

// ExitRefused is the exit status of a worker that refuses its segment
// (EX_CONFIG).
const ExitRefused = 78

// Attach verdicts.
const (
	AttachOK AttachVerdict = iota
	AttachBadMagic
	AttachBadVersion
	AttachBadSize
	AttachBadLane
)

func (v AttachVerdict) String() string {
	switch v {
	case AttachOK:
		return "ok"
	case AttachBadMagic:
		return "bad magic"
	case AttachBadVersion:
		return "layout version mismatch"
	case AttachBadSize:
		return "bad size"
	case AttachBadLane:
		return "bad lane"
	}
	return fmt.Sprintf("AttachVerdict(%d)", uint32(v))
}

// Config is what a segment is sized for.
type Config struct {
	Lanes             int   // processes that may use the segment at once (≥ 1)
	StateSize         int   // bytes per state slot (0: no state)
	RingSize          int   // bytes per command ring (0: no rings), a power of two
	HeartbeatInterval int64 // ns, 0 when the worker does not beat
	HeartbeatTimeout  int64 // ns
}

// Layout is the placement of every region, derived from a Config.
type Layout struct {
	Config
	LanesOff, StateOff, RingsOff, Total int
}

// State region: a line with the sequence word, then two slots, each a
// line of slot header followed by the data rounded up to a line.
const (
	laneSeqOff  = 0 // u64, in the first line of a lane's state
	slotHdrSize = lineSize
	slotSeq     = 0  // u64
	slotEpoch   = 8  // u64
	slotLen     = 16 // u32
	ringHdrSize = 3 * lineSize
	ringHead    = 0            // u64: next index the consumer reads
	ringTail    = lineSize     // u64: next index the producer writes
	ringWaiters = 2 * lineSize // u32 futex: who sleeps on this ring
)

func roundUp(n, to int) int { return (n + to - 1) / to * to }

// laneStateSize is one lane's state region: its sequence line and two slots.
func laneStateSize(stateSize int) int {
	return lineSize + 2*(slotHdrSize+roundUp(stateSize, lineSize))
}

// ErrLayout reports a segment whose sizes or offsets are inconsistent.
var ErrLayout = errors.New("shm: bad segment layout")

// Plan places the regions for c, or reports which field is out of range.
func Plan(c Config) (Layout, error) {
	switch {
	case c.Lanes < 1 || c.Lanes > MaxLanes:
		return Layout{}, fmt.Errorf("%w: lanes = %d, want 1..%d", ErrLayout, c.Lanes, MaxLanes)
	case c.StateSize < 0 || c.StateSize > MaxStateSize:
		return Layout{}, fmt.Errorf("%w: state size = %d, want 0..%d", ErrLayout, c.StateSize, MaxStateSize)
	case c.RingSize < 0 || c.RingSize > MaxRingSize:
		return Layout{}, fmt.Errorf("%w: ring size = %d, want 0..%d", ErrLayout, c.RingSize, MaxRingSize)
	case c.RingSize != 0 && c.RingSize&(c.RingSize-1) != 0:
		return Layout{}, fmt.Errorf("%w: ring size = %d, want a power of two", ErrLayout, c.RingSize)
	}
	l := Layout{Config: c}
	l.LanesOff = HeaderSize
	l.StateOff = l.LanesOff + c.Lanes*LaneSize
	stateBytes := 0
	if c.StateSize > 0 {
		stateBytes = c.Lanes * laneStateSize(c.StateSize)
	}
	l.RingsOff = l.StateOff + stateBytes
	ringBytes := 0
	if c.RingSize > 0 {
		ringBytes = 2 * (ringHdrSize + c.RingSize)
	}
	l.Total = roundUp(l.RingsOff+ringBytes, 4096)
	return l, nil
}

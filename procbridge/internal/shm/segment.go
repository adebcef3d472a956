package shm

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Segment is a mapped segment. Its methods are safe for concurrent use by
// the processes sharing it: every shared word is read and written
// atomically.
type Segment struct {
	mem    []byte
	layout Layout
	fd     int // the memfd, or -1 once closed
}

// Bytes returns the whole mapping.
func (s *Segment) Bytes() []byte { return s.mem }

// Layout returns the placement of the regions, as validated.
func (s *Segment) Layout() Layout { return s.layout }

// Fd returns the memfd behind the segment, or -1.
func (s *Segment) Fd() int { return s.fd }

func (s *Segment) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&s.mem[off])) }
func (s *Segment) u64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&s.mem[off])) }
func (s *Segment) i64(off int) *int64  { return (*int64)(unsafe.Pointer(&s.mem[off])) }

// writeHeader lays out a fresh segment.
func (s *Segment) writeHeader() {
	l := s.layout
	le := binary.LittleEndian
	le.PutUint32(s.mem[offVersion:], Version)
	le.PutUint32(s.mem[offHeaderSize:], HeaderSize)
	le.PutUint64(s.mem[offTotalSize:], uint64(l.Total))
	le.PutUint32(s.mem[offLanes:], uint32(l.Lanes))
	le.PutUint32(s.mem[offLaneSize:], LaneSize)
	le.PutUint32(s.mem[offStateSize:], uint32(l.StateSize))
	le.PutUint32(s.mem[offRingSize:], uint32(l.RingSize))
	le.PutUint64(s.mem[offHBInterval:], uint64(l.HeartbeatInterval))
	le.PutUint64(s.mem[offHBTimeout:], uint64(l.HeartbeatTimeout))
	le.PutUint64(s.mem[offLanesOff:], uint64(l.LanesOff))
	le.PutUint64(s.mem[offStateOff:], uint64(l.StateOff))
	le.PutUint64(s.mem[offRingsOff:], uint64(l.RingsOff))
	atomic.StoreUint64(s.u64(offMagic), Magic) // last: the header is complete
}

// ParseHeader validates the header in mem (a mapping of exactly len(mem)
// bytes) and returns the layout it describes. It never reads outside mem.
func ParseHeader(mem []byte) (Layout, AttachVerdict, error) {
	if len(mem) < HeaderSize {
		return Layout{}, AttachBadSize, fmt.Errorf("%w: mapping of %d bytes is smaller than the %d-byte header", ErrLayout, len(mem), HeaderSize)
	}
	le := binary.LittleEndian
	if m := le.Uint64(mem[offMagic:]); m != Magic {
		return Layout{}, AttachBadMagic, fmt.Errorf("%w: magic = %#x, want %#x", ErrLayout, m, Magic)
	}
	if v := le.Uint32(mem[offVersion:]); v != Version {
		return Layout{}, AttachBadVersion, fmt.Errorf("%w: layout version = %d, this build speaks %d", ErrLayout, v, Version)
	}
	if h := le.Uint32(mem[offHeaderSize:]); h != HeaderSize {
		return Layout{}, AttachBadSize, fmt.Errorf("%w: header size = %d, want %d", ErrLayout, h, HeaderSize)
	}
	if ls := le.Uint32(mem[offLaneSize:]); ls != LaneSize {
		return Layout{}, AttachBadSize, fmt.Errorf("%w: lane size = %d, want %d", ErrLayout, ls, LaneSize)
	}
	c := Config{
		Lanes:             int(le.Uint32(mem[offLanes:])),
		StateSize:         int(le.Uint32(mem[offStateSize:])),
		RingSize:          int(le.Uint32(mem[offRingSize:])),
		HeartbeatInterval: int64(le.Uint64(mem[offHBInterval:])),
		HeartbeatTimeout:  int64(le.Uint64(mem[offHBTimeout:])),
	}
	l, err := Plan(c)
	if err != nil {
		return Layout{}, AttachBadSize, err
	}
	if c.HeartbeatInterval < 0 || c.HeartbeatTimeout < 0 {
		return Layout{}, AttachBadSize, fmt.Errorf("%w: heartbeat interval = %d ns, timeout = %d ns", ErrLayout, c.HeartbeatInterval, c.HeartbeatTimeout)
	}
	total := le.Uint64(mem[offTotalSize:])
	got := [...]uint64{le.Uint64(mem[offLanesOff:]), le.Uint64(mem[offStateOff:]), le.Uint64(mem[offRingsOff:])}
	want := [...]uint64{uint64(l.LanesOff), uint64(l.StateOff), uint64(l.RingsOff)}
	if got != want || total != uint64(l.Total) {
		return Layout{}, AttachBadSize, fmt.Errorf("%w: offsets %v total %d, want %v total %d", ErrLayout, got, total, want, l.Total)
	}
	if uint64(len(mem)) != total {
		return Layout{}, AttachBadSize, fmt.Errorf("%w: total size = %d, mapping is %d bytes", ErrLayout, total, len(mem))
	}
	return l, AttachOK, nil
}

// Validate re-reads the header from shared memory, which a peer may have
// scribbled on, and checks it still describes this mapping.
func (s *Segment) Validate() error {
	l, _, err := ParseHeader(s.mem)
	if err != nil {
		return err
	}
	if l != s.layout {
		return fmt.Errorf("%w: header changed under us", ErrLayout)
	}
	return nil
}

// RestoreHeader writes the header again from the layout the segment was
// created with (the supervisor's own record), magic last, after a peer
// scribbled on it.
func (s *Segment) RestoreHeader() {
	atomic.StoreUint64(s.u64(offMagic), 0)
	s.writeHeader()
}

// AttachVerdict returns what the worker said of the segment at attach.
func (s *Segment) AttachVerdict() AttachVerdict {
	return AttachVerdict(atomic.LoadUint32(s.u32(offAttachErr)))
}

// ResetAttachVerdict clears the verdict before a process starts, so that
// what the word holds when it ends is its own, or a scribble.
func (s *Segment) ResetAttachVerdict() {
	atomic.StoreUint32(s.u32(offAttachErr), uint32(AttachOK))
}

// SetAttachVerdict records the worker's verdict (worker side).
func SetAttachVerdict(mem []byte, v AttachVerdict) {
	if len(mem) >= offAttachErr+4 {
		atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[offAttachErr])), uint32(v))
	}
}

// SetVersionForTest overwrites the layout version, to exercise a worker
// that refuses a segment of another version.
func (s *Segment) SetVersionForTest(v uint32) { atomic.StoreUint32(s.u32(offVersion), v) }

// Control returns the fencing epoch and the active (primary) lane.
func (s *Segment) Control() (epoch uint64, lane int) {
	c := atomic.LoadUint64(s.u64(offControl))
	return c >> 8, int(c & 0xff)
}

// Epoch returns the fencing epoch.
func (s *Segment) Epoch() uint64 { e, _ := s.Control(); return e }

// ActiveLane returns the lane that is primary.
func (s *Segment) ActiveLane() int { _, l := s.Control(); return l }

// Promote fences the primary the caller saw (epoch, from) and makes lane to
// the primary under epoch+1, in one compare-and-swap: of several racing
// promoters (the supervisor, spares woken by the kernel) exactly one wins.
// It reports whether this call won.
func (s *Segment) Promote(epoch uint64, from, to int) bool {
	if to < 0 || to >= s.layout.Lanes || from < 0 || from >= s.layout.Lanes || epoch+1 >= MaxEpoch {
		return false
	}
	old := epoch<<8 | uint64(from)
	next := (epoch+1)<<8 | uint64(to)
	return atomic.CompareAndSwapUint64(s.u64(offControl), old, next)
}

// Lane returns lane i, or nil when i is out of range.
func (s *Segment) Lane(i int) *Lane {
	if i < 0 || i >= s.layout.Lanes {
		return nil
	}
	return &Lane{seg: s, off: s.layout.LanesOff + i*LaneSize, index: i}
}

// Lane is one process's corner of a segment.
type Lane struct {
	seg   *Segment
	off   int
	index int
}

// Index returns the lane number.
func (l *Lane) Index() int { return l.index }

// Segment returns the segment the lane is in.
func (l *Lane) Segment() *Segment { return l.seg }

// Beat records one heartbeat at monotonic time now (worker side). The time
// is stored before the counter, so a reader that sees the new count also
// sees a time at least as new.
func (l *Lane) Beat(now int64) {
	atomic.StoreInt64(l.seg.i64(l.off+laneLastBeat), now)
	atomic.AddUint64(l.seg.u64(l.off+laneHeartbeat), 1)
}

// Heartbeat returns the beat count and the monotonic time of the last beat.
func (l *Lane) Heartbeat() (count uint64, at int64) {
	count = atomic.LoadUint64(l.seg.u64(l.off + laneHeartbeat))
	at = atomic.LoadInt64(l.seg.i64(l.off + laneLastBeat))
	return count, at
}

// HeartbeatWords returns the lane's beat count and beat time in place, for
// a reader that looks at many lanes in a row: loads from a pointer each
// that the processor can overlap, rather than a chain of loads per lane.
func (l *Lane) HeartbeatWords() (count *uint64, at *int64) {
	return l.seg.u64(l.off + laneHeartbeat), l.seg.i64(l.off + laneLastBeat)
}

// SetMark leaves a timestamp for the supervisor (benchmarks use it to say
// when the worker was about to die).
func (l *Lane) SetMark(ns int64) { atomic.StoreInt64(l.seg.i64(l.off+laneMark), ns) }

// Mark returns the timestamp left by SetMark.
func (l *Lane) Mark() int64 { return atomic.LoadInt64(l.seg.i64(l.off + laneMark)) }

// ReadyWord is the futex word the worker sets to ReadyYes.
func (l *Lane) ReadyWord() *uint32 { return l.seg.u32(l.off + laneReady) }

// Ready reports the ready word.
func (l *Lane) Ready() uint32 { return atomic.LoadUint32(l.ReadyWord()) }

// SetPid records the pid that attached.
func (l *Lane) SetPid(pid int) { atomic.StoreUint32(l.seg.u32(l.off+lanePid), uint32(pid)) }

// Pid returns the pid that attached.
func (l *Lane) Pid() int { return int(atomic.LoadUint32(l.seg.u32(l.off + lanePid))) }

// ParkWord is the futex word the lane parks on until promoted.
func (l *Lane) ParkWord() *uint32 { return l.seg.u32(l.off + lanePark) }

// Reset clears a lane for a new process: before it starts, nobody else
// uses the lane (its previous process is reaped).
func (l *Lane) Reset() {
	atomic.StoreUint64(l.seg.u64(l.off+laneHeartbeat), 0)
	atomic.StoreInt64(l.seg.i64(l.off+laneLastBeat), 0)
	atomic.StoreInt64(l.seg.i64(l.off+laneMark), 0)
	atomic.StoreUint32(l.ReadyWord(), ReadyNo)
	atomic.StoreUint32(l.seg.u32(l.off+lanePid), 0)
	atomic.StoreUint32(l.seg.u32(l.off+laneRobustTid), 0)
	atomic.StoreUint32(l.seg.u32(l.off+laneParkLoops), 0)
	atomic.StoreUint32(l.ParkWord(), ParkWaiting)
	for i := range RobustWords {
		atomic.StoreUint32(l.RobustWord(i), 0)
	}
}

// RobustWord returns robust-futex word i of the lane (0 ≤ i < RobustWords),
// preceded by the 8-byte list entry that links it into the worker's robust
// list: the entry is at RobustEntry(i), the word 8 bytes after it.
func (l *Lane) RobustWord(i int) *uint32 {
	if i < 0 || i >= RobustWords {
		return nil
	}
	return l.seg.u32(l.off + laneRobust + i*16 + 8)
}

// RobustEntry returns the address of robust list entry i.
func (l *Lane) RobustEntry(i int) *uint64 {
	if i < 0 || i >= RobustWords {
		return nil
	}
	return l.seg.u64(l.off + laneRobust + i*16)
}

// SetRobustTid records the TID of the thread whose robust list holds the
// lane's robust words (worker side).
func (l *Lane) SetRobustTid(tid int) { atomic.StoreUint32(l.seg.u32(l.off+laneRobustTid), uint32(tid)) }

// RobustTid returns the TID the worker recorded, 0 when it armed nothing.
func (l *Lane) RobustTid() int { return int(atomic.LoadUint32(l.seg.u32(l.off + laneRobustTid))) }

// CountParkLoop records that a parked spare woke and looked around.
func (l *Lane) CountParkLoop() { atomic.AddUint32(l.seg.u32(l.off+laneParkLoops), 1) }

// ParkLoops returns how many times the lane's parked spare woke and looked.
func (l *Lane) ParkLoops() uint32 { return atomic.LoadUint32(l.seg.u32(l.off + laneParkLoops)) }

// Package bus is the shared memory of an audio engine: one memfd that the
// engine creates and every node process maps. It holds a header; one record
// per host (a worker process group, running one node or several): its
// activation record (the cycle it is asked to compute, when it was woken, a
// futex word to wake it) and one lane record per process that may serve it
// (a primary and its spares: pid, thread, promotion); then one record per
// node: a fault plan for tests, and one lane record per process that may
// serve it, with that process's times for the node, the last cycle it
// published, and its own output blocks.
//
//	header (256 B)   magic, version, sizes; the stop word (64), the driver's
//	                 futex word and the cycle base (128)
//	host h           line 0: req (u64 cycle asked for), wake (u32 futex,
//	                 the low half of req), wakeAt (ns)
//	                 lanes × 128 B: promotedAt, adopted (u64 state cycle at
//	                 promotion), pid, state, recovered, tid, priority, and
//	                 the allocation probe (from, to, allocs)
//	node i           line 0: the fault plan (cycle, kind, point, spin,
//	                 fired, firedAt)
//	                 lanes × 64 B: done (u64 last cycle published), startAt,
//	                 finishAt
//	                 lanes × outputs × BlockSize float32: the output blocks,
//	                 each lane's 64-byte aligned
//
// Every word that two processes touch is read and written with sync/atomic;
// the float32 blocks are plain memory, published by the atomic store of done
// that follows them and read only after an atomic load of done that sees it.
// The layout is a pure function of the shape (hosts, nodes, lanes, block
// size, outputs per node), which both sides compute from the same graph; the
// header records it and Open checks it.
package bus

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"
)

// ErrLayout: the bus does not have the layout its shape asks for.
var ErrLayout = errors.New("bus: layout mismatch")

// Magic is the bus's first word: "USAUDBUS" in little-endian.
const Magic uint64 = 0x5355424455415355

// Version is the layout version.
const Version uint32 = 2

const (
	line       = 64
	headerSize = 256
	hostHeader = line
	hostLane   = 2 * line
	nodeHeader = line
	laneSize   = line

	offMagic     = 0
	offVersion   = 8
	offNodes     = 12
	offLanes     = 16
	offBlockSize = 20
	offTotal     = 24
	offHosts     = 32
	offStop      = 64
	offDriver    = 128
	offCycleBase = 132

	// host record
	offReq    = 0
	offWake   = 8
	offWakeAt = 16

	// host lane record
	offPromotedAt = 0
	offAdopted    = 8
	offPid        = 16
	offState      = 20
	offRecovered  = 24
	offTid        = 28
	offPriority   = 32
	offSetup      = 36
	offProbeFrom  = 40
	offProbeTo    = 48
	offProbeAlloc = 56

	// node record
	offFaultCycle   = 0
	offFaultKind    = 8
	offFaultPoint   = 12
	offFaultFired   = 16
	offFaultFiredAt = 24
	offFaultSpin    = 32

	// node lane record
	offDone     = 0
	offStartAt  = 8
	offFinishAt = 16
)

// Lane states, written by the lane's process.
const (
	LaneEmpty  uint32 = iota // no process attached yet
	LaneParked               // a warm spare, parked until promoted
	LaneActive               // the primary
)

// Recovery, written by a promoted process: what it found.
const (
	RecoveredNone    uint32 = iota // started as the primary
	RecoveredCompute               // the block was not committed: recomputed it
	RecoveredReuse                 // the block was committed: published it again
	RecoveredBetween               // promoted between cycles
)

// PriorityDenied in a lane's Priority: the process asked for real-time
// scheduling and was refused.
const PriorityDenied = 0xffffffff

// Setup bits, in a lane's Setup: what the process got of what it asks for
// to run in real time.
const (
	SetupThreadsRaised uint32 = 1 << iota // every thread in SCHED_FIFO
	SetupMemoryLocked                     // mlockall, current and future
)

// Shape is what sizes a bus.
type Shape struct {
	Hosts     int   // worker process groups, each running one node or more
	Lanes     int   // processes per host: 1 + spares
	BlockSize int   // frames per block
	Outputs   []int // output ports of each node
}

// Layout places the host and node records.
type Layout struct {
	Shape
	HostOff  []int // offset of each host's record
	NodeOff  []int // offset of each node's record
	OutOff   []int // offset of each node's output region, from the record
	LaneOuts []int // bytes of one lane's outputs, per node
	Total    int
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }

// Plan lays a bus out.
func Plan(s Shape) (Layout, error) {
	if s.Lanes < 1 || s.Lanes > 16 || s.BlockSize < 1 || s.BlockSize > 1<<16 || len(s.Outputs) > 1<<16 ||
		s.Hosts < 0 || s.Hosts > len(s.Outputs) || s.Hosts == 0 && len(s.Outputs) > 0 {
		return Layout{}, fmt.Errorf("%w: %d hosts, lanes %d, block size %d, %d nodes", ErrLayout, s.Hosts, s.Lanes, s.BlockSize, len(s.Outputs))
	}
	l := Layout{Shape: s}
	off := headerSize
	for range s.Hosts {
		l.HostOff = append(l.HostOff, off)
		off += hostHeader + s.Lanes*hostLane
	}
	for _, outs := range s.Outputs {
		if outs < 0 || outs > 1024 {
			return Layout{}, fmt.Errorf("%w: %d outputs", ErrLayout, outs)
		}
		laneOuts := roundUp(outs*s.BlockSize*4, line)
		l.NodeOff = append(l.NodeOff, off)
		l.OutOff = append(l.OutOff, nodeHeader+s.Lanes*laneSize)
		l.LaneOuts = append(l.LaneOuts, laneOuts)
		off += nodeHeader + s.Lanes*(laneSize+laneOuts)
	}
	l.Total = roundUp(off, 4096)
	return l, nil
}

// Bus is a mapped bus.
type Bus struct {
	mem  []byte
	l    Layout
	file *os.File
}

// Create makes a new bus for layout l, zero-filled but for its header.
func Create(name string, l Layout) (*Bus, error) {
	f, mem, err := create(name, l.Total)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	b := &Bus{mem: mem, l: l, file: f}
	atomic.StoreUint32(b.u32(offVersion), Version)
	atomic.StoreUint32(b.u32(offNodes), uint32(len(l.Outputs)))
	atomic.StoreUint32(b.u32(offHosts), uint32(l.Hosts))
	atomic.StoreUint32(b.u32(offLanes), uint32(l.Lanes))
	atomic.StoreUint32(b.u32(offBlockSize), uint32(l.BlockSize))
	atomic.StoreUint64(b.u64(offTotal), uint64(l.Total))
	atomic.StoreUint64(b.u64(offMagic), Magic)
	return b, nil
}

// Open maps the bus in f, which must have layout l, and checks its header.
func Open(f *os.File, l Layout) (*Bus, error) {
	mem, err := mapFile(f, l.Total)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	b := &Bus{mem: mem, l: l, file: f}
	got := [...]uint64{atomic.LoadUint64(b.u64(offMagic)), uint64(atomic.LoadUint32(b.u32(offVersion))),
		uint64(atomic.LoadUint32(b.u32(offNodes))), uint64(atomic.LoadUint32(b.u32(offLanes))),
		uint64(atomic.LoadUint32(b.u32(offBlockSize))), atomic.LoadUint64(b.u64(offTotal)), uint64(atomic.LoadUint32(b.u32(offHosts)))}
	want := [...]uint64{Magic, uint64(Version), uint64(len(l.Outputs)), uint64(l.Lanes), uint64(l.BlockSize), uint64(l.Total), uint64(l.Hosts)}
	if got != want {
		unmap(mem)
		return nil, fmt.Errorf("%w: header (magic, version, nodes, lanes, block size, total, hosts) = %v, want %v", ErrLayout, got, want)
	}
	return b, nil
}

// File returns the bus's file, to hand to node processes.
func (b *Bus) File() *os.File { return b.file }

// Close unmaps the bus and closes its file.
func (b *Bus) Close() error {
	err := unmap(b.mem)
	if cerr := b.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// Layout returns the bus's layout.
func (b *Bus) Layout() Layout { return b.l }

func (b *Bus) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&b.mem[off])) }
func (b *Bus) u64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&b.mem[off])) }
func (b *Bus) i64(off int) *int64  { return (*int64)(unsafe.Pointer(&b.mem[off])) }

// Stop is the word the engine sets to 1 when it shuts down.
func (b *Bus) Stop() *uint32 { return b.u32(offStop) }

// Driver is the futex word the driver sleeps on: nodes that feed nothing
// add one to it when they publish a block.
func (b *Bus) Driver() *uint32 { return b.u32(offDriver) }

// CycleBase is the Driver word's value when the current cycle began.
func (b *Bus) CycleBase() *uint32 { return b.u32(offCycleBase) }

// Host returns host h's record.
func (b *Bus) Host(h int) Host { return Host{b: b, off: b.l.HostOff[h], h: h} }

// Host is one host's record: a worker process group running one node or
// more. It is a small value; copy it freely.
type Host struct {
	b   *Bus
	off int
	h   int
}

// Index returns the host's number.
func (h Host) Index() int { return h.h }

// Req is the cycle the host is asked to compute (0: none yet).
func (h Host) Req() *uint64 { return h.b.u64(h.off + offReq) }

// Wake is the futex word the host's primary sleeps on: the low half of Req.
func (h Host) Wake() *uint32 { return h.b.u32(h.off + offWake) }

// WakeAt is when the host was last woken (CLOCK_MONOTONIC ns).
func (h Host) WakeAt() *int64 { return h.b.i64(h.off + offWakeAt) }

// Lane returns lane l of the host: the process serving it there.
func (h Host) Lane(l int) HostLane {
	return HostLane{b: h.b, off: h.off + hostHeader + l*hostLane}
}

// HostLane is the record of the process in one lane of a host.
type HostLane struct {
	b   *Bus
	off int
}

// PromotedAt is when the process was promoted; Adopted the cycle its
// adopted state followed; Pid and Tid the process and its loop's thread;
// State one of the Lane states; Recovered one of the Recovered values.
func (r HostLane) PromotedAt() *int64 { return r.b.i64(r.off + offPromotedAt) }
func (r HostLane) Adopted() *uint64   { return r.b.u64(r.off + offAdopted) }
func (r HostLane) Pid() *uint32       { return r.b.u32(r.off + offPid) }
func (r HostLane) State() *uint32     { return r.b.u32(r.off + offState) }
func (r HostLane) Recovered() *uint32 { return r.b.u32(r.off + offRecovered) }
func (r HostLane) Tid() *uint32       { return r.b.u32(r.off + offTid) }

// Priority is the SCHED_FIFO priority the loop got, or 0; PriorityDenied
// when it asked and was refused.
func (r HostLane) Priority() *uint32 { return r.b.u32(r.off + offPriority) }

// Setup holds the Setup bits the lane's process was granted.
func (r HostLane) Setup() *uint32 { return r.b.u32(r.off + offSetup) }

// ProbeFrom, ProbeTo and ProbeAllocs are the allocation probe, written by
// the lane's process only when the engine asks for it (tests): the heap
// allocations the whole process made (runtime.MemStats.Mallocs) from its
// loop's start of block ProbeFrom to its end of block ProbeTo, once
// ProbeFrom is set (0: not yet).
func (r HostLane) ProbeFrom() *uint64   { return r.b.u64(r.off + offProbeFrom) }
func (r HostLane) ProbeTo() *uint64     { return r.b.u64(r.off + offProbeTo) }
func (r HostLane) ProbeAllocs() *uint64 { return r.b.u64(r.off + offProbeAlloc) }

// Node returns node i's record.
func (b *Bus) Node(i int) Node { return Node{b: b, off: b.l.NodeOff[i], i: i} }

// Node is one node's record. It is a small value; copy it freely.
type Node struct {
	b   *Bus
	off int
	i   int
}

// FaultCycle, FaultKind, FaultPoint and FaultSpin are the fault plan: at
// cycle FaultCycle, at FaultPoint, do FaultKind (spinning FaultSpin ns for
// an overrun). FaultFired is set by the process that carries it out, once,
// and FaultFiredAt is when.
func (n Node) FaultCycle() *uint64  { return n.b.u64(n.off + offFaultCycle) }
func (n Node) FaultKind() *uint32   { return n.b.u32(n.off + offFaultKind) }
func (n Node) FaultPoint() *uint32  { return n.b.u32(n.off + offFaultPoint) }
func (n Node) FaultFired() *uint32  { return n.b.u32(n.off + offFaultFired) }
func (n Node) FaultFiredAt() *int64 { return n.b.i64(n.off + offFaultFiredAt) }
func (n Node) FaultSpin() *int64    { return n.b.i64(n.off + offFaultSpin) }
func (n Node) Lanes() int           { return n.b.l.Lanes }
func (n Node) Index() int           { return n.i }
func (n Node) Lane(l int) LaneRecord {
	return LaneRecord{n: n, l: l, off: n.off + nodeHeader + l*laneSize}
}

// LaneRecord is one lane of a node: the node's block as the process in
// that lane of its host computed it.
type LaneRecord struct {
	n   Node
	l   int
	off int
}

// Index returns the lane number.
func (r LaneRecord) Index() int { return r.l }

// Done is the last cycle the lane's process published: its outputs in this
// lane hold that cycle's block. StartAt and FinishAt are when the process
// began computing the node's block and when it published it.
func (r LaneRecord) Done() *uint64    { return r.n.b.u64(r.off + offDone) }
func (r LaneRecord) StartAt() *int64  { return r.n.b.i64(r.off + offStartAt) }
func (r LaneRecord) FinishAt() *int64 { return r.n.b.i64(r.off + offFinishAt) }

// Out returns output port p's block in this lane, as a view of the bus.
func (r LaneRecord) Out(p int) []float32 {
	bs := r.n.b.l.BlockSize
	off := r.n.off + r.n.b.l.OutOff[r.n.i] + r.l*r.n.b.l.LaneOuts[r.n.i] + p*bs*4
	return unsafe.Slice((*float32)(unsafe.Pointer(&r.n.b.mem[off])), bs)
}

// Outs returns all the lane's output blocks as one slice (outputs ×
// BlockSize), for copying from lane to lane.
func (r LaneRecord) Outs() []float32 {
	n := r.n.b.l.Outputs[r.n.i] * r.n.b.l.BlockSize
	if n == 0 {
		return nil
	}
	off := r.n.off + r.n.b.l.OutOff[r.n.i] + r.l*r.n.b.l.LaneOuts[r.n.i]
	return unsafe.Slice((*float32)(unsafe.Pointer(&r.n.b.mem[off])), n)
}

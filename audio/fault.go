package audio

import (
	"fmt"
	"time"
)

// FaultKind is what a fault injected into a node does to its process.
type FaultKind uint32

// Fault kinds. The zero value is no fault.
const (
	FaultNone    FaultKind = iota
	FaultKill              // SIGKILL: the process dies at once
	FaultHang              // SIGSTOP: the process stops and never goes on
	FaultOverrun           // a busy loop longer than the period (Fault.Spin)
	FaultSegv              // SIGSEGV with the default action: a crash
)

func (k FaultKind) String() string {
	switch k {
	case FaultNone:
		return "none"
	case FaultKill:
		return "SIGKILL"
	case FaultHang:
		return "hang"
	case FaultOverrun:
		return "overrun"
	case FaultSegv:
		return "SIGSEGV"
	}
	return fmt.Sprintf("FaultKind(%d)", uint32(k))
}

// FaultPoint is where in a node's cycle a fault strikes. Each point is a
// different instant of the commit protocol, so between them they cover
// every state a crash can leave a node in.
type FaultPoint uint32

// Fault points, in the order a cycle passes them.
const (
	// BeforeCompute: woken for the block, nothing written yet.
	BeforeCompute FaultPoint = iota
	// AfterOutput: the block is in the node's output buffers; its state is
	// not committed. A spare recomputes the block.
	AfterOutput
	// AfterCommit: the state is committed, the block not yet published. A
	// spare publishes the committed block without computing it again.
	AfterCommit
	// AfterPublish: the block is published; the successors are not woken
	// yet. A spare publishes again and wakes them.
	AfterPublish
	numFaultPoints
)

func (p FaultPoint) String() string {
	switch p {
	case BeforeCompute:
		return "before-compute"
	case AfterOutput:
		return "after-output"
	case AfterCommit:
		return "after-commit"
	case AfterPublish:
		return "after-publish"
	}
	return fmt.Sprintf("FaultPoint(%d)", uint32(p))
}

// A Fault is injected into the primary process of a node when it reaches a
// block: the node carries it out itself, at the exact point of its cycle,
// and only once (the spare that takes over does not repeat it).
type Fault struct {
	Node  string
	Cycle uint64 // the block, counting from 1
	Kind  FaultKind
	Point FaultPoint
	// Spin is how long an overrun busies the CPU; zero means three periods.
	Spin time.Duration
}

func (f Fault) String() string {
	return fmt.Sprintf("%s of %s at block %d (%s)", f.Kind, f.Node, f.Cycle, f.Point)
}

package audio

import (
	"slices"
	"strings"
	"time"
)

// A Fault is injected into the primary process of a node when it reaches a
// block: the node carries it out itself, at the exact point of its cycle,
// and only once (the spare that takes over does not repeat it).
type Fault struct {
	Node  string
	Cycle uint64 // the block, counting from 1
	// Kind is what the fault does to the node's process: "kill" (SIGKILL:
	// it dies at once), "hang" (SIGSTOP: it stops and never goes on),
	// "overrun" (a busy loop longer than the period, Spin) or "segv"
	// (SIGSEGV with the default action: a crash).
	Kind string
	// Point is where in the node's cycle it strikes, each a different
	// instant of the commit protocol, so that between them they cover every
	// state a crash can leave a node in, in the order a cycle passes them:
	//
	//   - "before-compute" (or ""): woken for the block, nothing written.
	//   - "after-output": the block is in the node's output buffers; its
	//     state is not committed. A spare recomputes the block.
	//   - "after-commit": the state is committed, the block not yet
	//     published. A spare publishes the committed block without
	//     computing it again.
	//   - "after-publish": the block is published; the successors are not
	//     woken yet. A spare publishes again and wakes them.
	Point string
	// Spin is how long an overrun busies the CPU; zero means three periods.
	Spin time.Duration
}

// The codes of fault kinds and points in a node's fault plan on the bus: a
// kind's index in faultKinds (0: none), a point's in faultPoints.
var (
	faultKinds  = []string{"", "kill", "hang", "overrun", "segv"}
	faultPoints = []string{"before-compute", "after-output", "after-commit", "after-publish"}

	faultKindWords  = `"kill", "hang", "overrun" or "segv"`
	faultPointWords = `"before-compute" (or ""), "after-output", "after-commit" or "after-publish"`
)

const (
	faultKill    = 1
	faultHang    = 2
	faultOverrun = 3
	faultSegv    = 4
)

// faultPoint is a point of a node's cycle (Fault.Point) as a code.
type faultPoint uint32

const (
	beforeCompute faultPoint = iota
	afterOutput
	afterCommit
	afterPublish
)

// faultKindCode returns k's code, 0 for no (or an unknown) kind.
func faultKindCode(k string) uint32 {
	return uint32(max(slices.Index(faultKinds, strings.ToLower(k)), 0))
}

// faultPointCode returns p's code, -1 for an unknown point.
func faultPointCode(p string) int {
	if p == "" {
		return int(beforeCompute)
	}
	return slices.Index(faultPoints, strings.ToLower(p))
}

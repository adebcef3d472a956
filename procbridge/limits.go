package procbridge

import (
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

const (
	maxStateSize = shm.MaxStateSize
	maxRingSize  = shm.MaxRingSize
)

// Monotonic returns CLOCK_MONOTONIC in nanoseconds: the clock of every Mono
// field in this package, readable in any process on the machine (a worker
// takes it with worker.Monotonic), so latencies across processes can be
// measured by subtraction.
func Monotonic() int64 { return mono.Now() }

// testSegmentVersion, when set by a test, overrides the layout version
// written into new segments.
var testSegmentVersion uint32

package procbridge

import "github.com/understudy/understudy/procbridge/internal/shm"

const (
	maxStateSize = shm.MaxStateSize
	maxRingSize  = shm.MaxRingSize
)

// testSegmentVersion, when set by a test, overrides the layout version
// written into new segments.
var testSegmentVersion uint32

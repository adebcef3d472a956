package procbridge

// SetSegmentVersionForTest makes the next segments claim layout version v
// (0 restores the real one), to exercise a worker that refuses its segment.
func SetSegmentVersionForTest(v uint32) { testSegmentVersion = v }

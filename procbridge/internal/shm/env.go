package shm

// Environment variables and descriptor numbers through which a supervisor
// hands a worker its segment. They are the contract between procbridge and
// procbridge/worker.
const (
	EnvSegmentFd  = "UNDERSTUDY_SEGMENT_FD"  // the memfd's descriptor number
	EnvLane       = "UNDERSTUDY_LANE"        // which lane of the segment is ours
	EnvLifelineFd = "UNDERSTUDY_LIFELINE_FD" // read end of the supervisor's lifeline pipe
	EnvSentinelFd = "UNDERSTUDY_SENTINEL_FD" // write end of the death sentinel (fallback)
	EnvWorker     = "UNDERSTUDY_WORKER"      // registered worker name, for re-executed Go workers

	// Descriptor numbers in the child.
	FdSegment  = 3
	FdLifeline = 4
	FdSentinel = 5
)

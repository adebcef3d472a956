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
	// EnvWatchdogFd: a timerfd the worker re-arms as it beats, to its last
	// beat plus the heartbeat timeout; the supervisor sleeps on it, so it
	// wakes only when a worker misses its deadline. Its number follows the
	// extra files.
	EnvWatchdogFd = "UNDERSTUDY_WATCHDOG_FD"
	// EnvEpoch: the epoch of the process started as the primary, "spare"
	// for a spare. A sibling can write the control word, not a process's
	// environment.
	EnvEpoch = "UNDERSTUDY_EPOCH"

	// Descriptor numbers in the child.
	FdSegment  = 3
	FdLifeline = 4
	FdSentinel = 5
)

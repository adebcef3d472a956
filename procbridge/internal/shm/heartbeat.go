package shm

// HangWindow is how long the hang monitor watches a worker that missed a
// beat before it judges it (ns): a quarter of the heartbeat interval,
// between 250 us and 2 ms.
func HangWindow(interval int64) int64 {
	return min(max(interval/4, 250_000), 2_000_000)
}

// WatchdogLead is how long before a worker's deadline (its last beat plus
// the timeout) its watchdog expires (ns), so that the monitor's window of
// watching ends at the deadline rather than starting there: two windows,
// one to open its probe on the worker's threads (a few hundred
// microseconds, now and then milliseconds) and one to watch, but at most
// half the slack between the interval and the timeout, so a worker that
// beats on time never sets it off.
func WatchdogLead(interval, timeout int64) int64 {
	return max(min(2*HangWindow(interval), (timeout-interval)/2), 0)
}

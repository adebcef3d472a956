package shm

// HangWindow is how long the hang monitor watches a worker that missed a
// beat before it judges it (ns): a quarter of the heartbeat interval,
// between 250 us and 2 ms.
func HangWindow(interval int64) int64 {
	return min(max(interval/4, 250_000), 2_000_000)
}

// WatchdogLead is how long before a worker's deadline (its last beat plus
// the timeout) its watchdog expires (ns), so that the monitor's window of
// watching ends at the deadline rather than starting there: three
// windows, one for the monitor's goroutine to get going after its sleep
// (the Go runtime may make it wait for a processor: tens of microseconds,
// now and then a millisecond), one to open its probe on the worker's
// threads (a few hundred microseconds) and one to watch, but at most half
// the slack between the interval and the timeout, so a worker that beats
// on time never sets it off.
func WatchdogLead(interval, timeout int64) int64 {
	return max(min(3*HangWindow(interval), (timeout-interval)/2), 0)
}

// WatchdogGap is how long a worker may go between re-arms of its watchdog
// (ns): half the interval, or half of what is left of the timeout after an
// interval and the lead when that is longer. A worker that beats on time
// re-arms well before the watchdog could fire, with fewer system calls; the
// watchdog of one that skipped re-arms may then fire up to this early, and
// the monitor takes that for what it is, not for a watchdog armed wrong.
func WatchdogGap(interval, timeout int64) int64 {
	return max(interval/2, (timeout-interval-WatchdogLead(interval, timeout))/2)
}

//go:build linux

package procbridge

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
)

// SetSegmentVersionForTest makes the next segments claim layout version v
// (0 restores the real one), to exercise a worker that refuses its segment.
func SetSegmentVersionForTest(v uint32) { testSegmentVersion = v }

// MonitorIdle reports whether the hang monitor has no goroutine running.
func MonitorIdle() bool {
	monitor.mu.Lock()
	defer monitor.mu.Unlock()
	return !monitor.running
}

// MonitorWakes returns how many times the hang monitor has woken.
func MonitorWakes() int64 { return monitor.wakes.Load() }

// SetWatchdogForTest starts the next workers with a watchdog (true, the
// default) or without, when the monitor keeps their deadlines itself.
func SetWatchdogForTest(on bool) { noWatchdog.Store(!on) }

// SetThreadClocksForTest lets the hang monitor use exact per-thread CPU
// counters (true, where the kernel allows them) or only the process CPU
// clock (false).
func SetThreadClocksForTest(on bool) { linux.SetTaskClocksUsable(on) }

// SetPromptThreadsForTest raises the threads of the next hang monitor and
// death-notice batches (true, the default) or leaves them as they are.
func SetPromptThreadsForTest(on bool) { unraised.Store(!on) }

// SpuriousWake wakes the spare parked in lane of seg through its robust
// word in the primary's lane, without the owner having died, and returns
// how many times the spare had gone to sleep before (ParkLoops counts each
// time it looked and found nothing to do).
func SpuriousWake(seg *Segment, lane int) (loopsBefore uint32, woken int) {
	_, active := seg.seg.Control()
	word := seg.seg.Lane(active).RobustWord(1 + lane)
	loopsBefore = seg.seg.Lane(lane).ParkLoops()
	n, _, _ := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), 1 /* FUTEX_WAKE */, 1, 0, 0, 0)
	return loopsBefore, int(n)
}

// ParkLoops returns how many times the spare in lane looked around.
func ParkLoops(seg *Segment, lane int) uint32 { return seg.seg.Lane(lane).ParkLoops() }

// SetPerProcessDyingForTest makes each worker's death-notice waiter a
// thread of its own, as on a kernel without futex_waitv (false restores
// the batches).
func SetPerProcessDyingForTest(on bool) { dyingWaiters.broken.Store(on) }

// FollowingRaise returns the hang monitor's way of keeping its goroutine on
// a raised thread (raisedThread): keep raises the calling thread and gives
// the one raised before back its scheduling; release gives back the last.
func FollowingRaise() (keep, release func()) {
	t := new(raisedThread)
	return t.keep, t.release
}

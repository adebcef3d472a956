//go:build linux

package procbridge

import (
	"context"
	"time"
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

// MonitorAudits returns how many times the hang monitor has audited the
// workers' watchdogs.
func MonitorAudits() int64 { return monitor.audits.Load() }

// PokeMonitor makes the hang monitor wake and look at every worker now.
func PokeMonitor() { lookForHangs() }

// MonitorLooks returns how many looks at a worker the hang monitor has
// made: quick ones, from memory alone, and full ones (the path of every
// system call of the watch).
func MonitorLooks() (quick, full int64) { return monitor.quicks.Load(), monitor.fulls.Load() }

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

// WatchMode is the death signal a test forces (watchMode).
type WatchMode = watchMode

// The death signals tests force: a pidfd, or the pipe sentinel where the
// kernel has no pidfds.
const (
	WatchAuto     = watchAuto
	WatchPidfd    = watchPidfd
	WatchSentinel = watchSentinel
)

// StartWatching is Start with the death signal forced to mode.
func StartWatching(ctx context.Context, spec Spec, mode WatchMode) (*Process, error) {
	return start(ctx, spec, startOptions{watch: mode})
}

// SegmentConfig sizes a segment made by NewSegment.
type SegmentConfig = segmentConfig

// NewSegment makes a segment for StartIn, as a group does.
func NewSegment(name string, c SegmentConfig) (*Segment, error) { return newSegment(name, c) }

// CloseSegment releases a segment made by NewSegment.
func CloseSegment(s *Segment) error { return s.close() }

// StartIn starts a process that serves lane of seg, as a group's member.
func StartIn(ctx context.Context, spec Spec, seg *Segment, lane int) (*Process, error) {
	return start(ctx, spec, startOptions{segment: seg, lane: lane})
}

// LaneState reads the state the process in lane of s last committed.
func LaneState(s *Segment, lane int, buf []byte) (int, uint64, error) { return s.laneState(lane, buf) }

// Name returns the name p runs as (the spec's, or its worker's).
func Name(p *Process) string { return p.name }

// Beats returns p's beat count and the CLOCK_MONOTONIC time of its last
// beat.
func Beats(p *Process) (count uint64, lastMono int64) { return p.heartbeat() }

// MarkOf returns the timestamp p's worker left with hooks.Mark (or, after a
// promotion, the instant it was promoted).
func MarkOf(p *Process) int64 { return p.mark() }

// SpawnMono returns the CLOCK_MONOTONIC time just before p's fork.
func SpawnMono(p *Process) int64 { return p.spawnMono }

// ReadyMono returns when the bridge saw p ready (0 before).
func ReadyMono(p *Process) int64 { return p.readyMono.Load() }

// Ended is closed when p has ended and been classified (before its
// output is drained: Done comes after).
func Ended(p *Process) <-chan struct{} { return p.exited }

// ExitOf returns how p ended, once Ended is closed (a zero Exit before).
func ExitOf(p *Process) (Exit, error) {
	exit, err, _ := p.exitNow()
	return exit, err
}

// WatchdogRevoked reports whether the hang monitor took p's watchdog out of
// its set for breaking the arming rules.
func WatchdogRevoked(p *Process) bool {
	monitor.mu.Lock()
	defer monitor.mu.Unlock()
	st, ok := monitor.watch[p]
	return ok && st.revoked
}

// SetMonitorWakeDelayForTest delays the hang monitor after each wake by d,
// widening the window in which a worker can re-arm its watchdog.
func SetMonitorWakeDelayForTest(d time.Duration) { monitorWakeDelay.Store(int64(d)) }

// SetKernelWatchForTest starts the next processes with the eBPF death
// watch where it loads (true, the default) or without it (false), as on a
// host that cannot load it.
func SetKernelWatchForTest(on bool) { noKernelWatch.Store(!on) }

// KernelWatchErr reports why the eBPF death watch does not load here, or
// nil.
func KernelWatchErr() error { return kernelWatchErr() }

// KernelWatchEnded returns a channel closed when the eBPF death watch's
// programs are detached and its reader is gone; nil when they are not
// attached.
func KernelWatchEnded() <-chan struct{} {
	kernelWatch.mu.Lock()
	defer kernelWatch.mu.Unlock()
	return kernelWatch.done
}

// KernelReaders returns the thread ids of the eBPF death watch's readers
// that run.
func KernelReaders() []int {
	var tids []int
	for i := range kernelWatch.readers {
		if tid := kernelWatch.readers[i].Load(); tid != 0 {
			tids = append(tids, int(tid))
		}
	}
	return tids
}

// KernelWatchStats returns the run time and run count of the eBPF death
// watch's programs (counted while deathwatch.EnableStats is on).
func KernelWatchStats() (time.Duration, uint64, error) {
	if err := kernelWatchErr(); err != nil {
		return 0, 0, err
	}
	return kernelWatch.w.Stats()
}

// SetClonePidfdForTest makes the next starts fork with CLONE_PIDFD (true,
// the default, where the probe found it works) or act as where the fork
// refuses it: pidfd_open right after the fork.
func SetClonePidfdForTest(on bool) { noClonePidfd.Store(!on) }

// PidfdWay says how the next start gets its child's pidfd.
func PidfdWay() string { return pidfdWay().String() }

// RevokedForTest counts the watched workers whose watchdog was revoked.
func RevokedForTest() (n int) {
	monitor.mu.Lock()
	defer monitor.mu.Unlock()
	for _, st := range monitor.list {
		if st.revoked {
			n++
		}
	}
	return n
}

// HoldWarmForTest keeps the death-notice waiters warm, as a hot-standby
// group does, until release is called.
func HoldWarmForTest() (release func()) { return warm.hold() }

// WarmHeld reports whether anything holds the death-notice waiters warm.
func WarmHeld() bool { return warm.holds.Load() > 0 }

// SetWarmSliceForTest makes the death-notice waiters' slices d long (0:
// the real ones).
func SetWarmSliceForTest(d time.Duration) { testSlice.Store(int64(d)) }

// SetWarmTickForTest keeps warm with one goroutine that ticks every slice
// (true) or by slicing the waiters' waits (false, the default). Only while
// nothing holds warm.
func SetWarmTickForTest(on bool) { warm.tick.Store(on) }

// WarmWakes returns how many of the robust-futex batches' waits ended at
// their slice's end (or, with SetWarmTickForTest, how many ticks came),
// and how many of the running eBPF reader's.
func WarmWakes() (futex, ebpf uint64) {
	if s := kernelWatch.live.Load(); s != nil {
		ebpf = s.Slices()
	}
	return warm.slices.Load(), ebpf
}

// CPUsStalledForTest wakes the probers of cpus, as a look of a watch
// does, and reports, as the verdict after it would, whether one of the
// CPUs did not run its prober in time; and how many of them had a prober
// up to be asked (StartCPUProbersForTest).
func CPUsStalledForTest(cpus ...int) (stalled bool, up int) {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	var l cpuLook
	l.open(&set)
	return l.stalled(), l.n
}

// StopCPUProbersForTest ends the probers a test started, unless the
// monitor runs (it ends its own).
func StopCPUProbersForTest() {
	monitor.mu.Lock()
	defer monitor.mu.Unlock()
	if !monitor.running {
		stopProbers()
	}
}

// StartCPUProbersForTest starts the hang monitor's CPU probers on every
// CPU, as its watches do, and waits for them, so that a test counting
// goroutines counts them from the start.
func StartCPUProbersForTest(deadline time.Time) {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return
	}
	startProbers(&set)
	for time.Now().Before(deadline) {
		probers.mu.Lock()
		up := true
		for _, p := range probers.cpu {
			up = up && (p == nil || p.tid.Load() != 0)
		}
		probers.mu.Unlock()
		if up {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// HoldReaps holds every reap of a zombie until release is called, so that
// a test may read a dead worker's /proc files.
func HoldReaps() (release func()) {
	h := make(chan struct{})
	reapHold.Store(&h)
	return func() {
		reapHold.Store(nil)
		close(h)
	}
}

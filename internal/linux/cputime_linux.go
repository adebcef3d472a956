//go:build linux

package linux

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The CPU time of another process. The kernel brings its accounts of a
// thread that stays on a CPU (the process CPU clock seen from outside,
// schedstat) up to date only at the scheduler's tick, so through them a
// thread that spins shows up to a tick (4 ms at HZ=250) late. Reading a
// perf task-clock counter brings it up to date: the counter is exact.
// Counters need perf events (CONFIG_PERF_EVENTS) and, for an unprivileged
// process, kernel.perf_event_paranoid at most 2; they exclude the kernel,
// which that setting requires, and count the thread's time all the same.

// ProcessCPU returns the CPU time of the whole process pid in ns, through
// its process CPU clock; 0 when it cannot be read. The call is raw.
func ProcessCPU(pid int) int64 {
	clock := int32((^pid)<<3 | 2) // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
	var ts unix.Timespec
	if _, _, e := unix.RawSyscall(unix.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return ts.Nano()
}

// TaskClocksUsable reports whether task clocks may be opened: not once an
// open failed for a reason other than a thread that is gone.
func TaskClocksUsable() bool { return !taskClocksOff.Load() }

// SetTaskClocksUsable says whether task clocks may be opened (tests turn
// them off to exercise the process CPU clock).
func SetTaskClocksUsable(on bool) { taskClocksOff.Store(!on) }

var taskClocksOff atomic.Bool

// OpenTaskClock opens a task-clock counter on thread tid of another
// process. The call is raw (it takes tens of microseconds). An error other
// than ESRCH (the thread has exited) makes task clocks unusable from then
// on (TaskClocksUsable).
func OpenTaskClock(tid int) (int, error) {
	attr := taskClockAttr()
	fd, _, e := unix.RawSyscall6(unix.SYS_PERF_EVENT_OPEN, uintptr(unsafe.Pointer(&attr)),
		uintptr(tid), ^uintptr(0), ^uintptr(0), uintptr(unix.PERF_FLAG_FD_CLOEXEC), 0)
	if e != 0 {
		if e != unix.ESRCH {
			taskClocksOff.Store(true)
		}
		return -1, e
	}
	return int(fd), nil
}

// ReadTaskClock reads the counter's ns on a CPU, exactly. The read is raw.
func ReadTaskClock(fd int) (int64, bool) {
	var buf [8]byte
	if n, err := readRaw(fd, buf[:], -1); err != nil || n != 8 {
		return 0, false
	}
	return int64(binary.NativeEndian.Uint64(buf[:])), true
}

// CloseTaskClock closes a counter opened by OpenTaskClock (raw).
func CloseTaskClock(fd int) { closeRaw(fd) }

// KeepTaskClocks holds a task-clock counter open on the calling process
// until ReleaseTaskClocks. The kernel switches its scheduler hooks for
// per-task counters on when the first one opens (waiting for an RCU grace
// period, milliseconds, in that system call) and off a second after the
// last one closes (patching kernel text on every CPU): a watcher that opens
// counters now and then would pay both each time, stalling itself and the
// machine by milliseconds. The open is an ordinary system call. It does
// nothing when task clocks are unusable, and makes them so when it fails.
func KeepTaskClocks() {
	kept.mu.Lock()
	defer kept.mu.Unlock()
	if kept.fd >= 0 || taskClocksOff.Load() {
		return
	}
	attr := taskClockAttr()
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		taskClocksOff.Store(true)
		return
	}
	kept.fd = fd
}

// ReleaseTaskClocks closes the counter KeepTaskClocks holds, if any.
func ReleaseTaskClocks() {
	kept.mu.Lock()
	defer kept.mu.Unlock()
	if kept.fd >= 0 {
		unix.Close(kept.fd)
		kept.fd = -1
	}
}

var kept = struct {
	mu sync.Mutex
	fd int
}{fd: -1}

func taskClockAttr() unix.PerfEventAttr {
	return unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_TASK_CLOCK,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Bits:   unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv,
	}
}

//go:build linux

package procbridge

import (
	"encoding/binary"
	"os"
	"strconv"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// threadClocks count, exactly, the CPU time that the threads of another
// process use: one task-clock perf counter per thread. The kernel's other
// accounts of another process's CPU (its CPU clock, /proc schedstat) are
// brought up to date for a thread that stays on a CPU only at the
// scheduler's tick, so through them a spinning worker shows up to a tick
// (4 ms at HZ=250) late; reading a task-clock counter updates it. The hang
// monitor opens them on a suspect's threads, and only then.
//
// They need perf events (CONFIG_PERF_EVENTS) and, for an unprivileged
// supervisor, kernel.perf_event_paranoid at most 2. The counters exclude
// the kernel, which that setting requires; a task clock counts the
// thread's time all the same. Without them the monitor falls back to the
// process CPU clock.
type threadClocks struct {
	fds []int
}

// perfUnusable is set once opening a counter failed for a reason other
// than a thread that is gone: not every suspect needs to find out again.
var perfUnusable atomic.Bool

// perfKeep holds a task counter open on this process while the hang
// monitor runs. The kernel switches its scheduler hooks for per-task
// counters on when the first one opens (and waits for an RCU grace period,
// milliseconds, in that system call) and off a second after the last one
// closes (patching kernel text on every CPU): without this, the monitor
// would pay both about once a second while it confirms hangs, stalling
// itself and the machine by milliseconds.
var perfKeep = -1

// keepPerf opens perfKeep (the monitor's lock held); releasePerf closes it.
func keepPerf() {
	if perfKeep >= 0 || perfUnusable.Load() {
		return
	}
	attr := taskClockAttr()
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		perfUnusable.Store(true)
		return
	}
	perfKeep = fd
}

func releasePerf() {
	if perfKeep >= 0 {
		unix.Close(perfKeep)
		perfKeep = -1
	}
}

func taskClockAttr() unix.PerfEventAttr {
	return unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_TASK_CLOCK,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Bits:   unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv,
	}
}

// openThreadClocks opens a counter on every thread of pid, or returns nil.
func openThreadClocks(pid int) *threadClocks {
	if perfUnusable.Load() {
		return nil
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil
	}
	tids, _ := f.Readdirnames(-1)
	f.Close()
	attr := taskClockAttr()
	c := &threadClocks{}
	for _, s := range tids {
		tid, err := strconv.Atoi(s)
		if err != nil {
			continue
		}
		fd, err := unix.PerfEventOpen(&attr, tid, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
		switch {
		case err == nil:
			c.fds = append(c.fds, fd)
		case err == unix.ESRCH:
			// The thread has exited.
		default:
			perfUnusable.Store(true)
			c.close()
			return nil
		}
	}
	if len(c.fds) == 0 {
		return nil
	}
	return c
}

// total returns the CPU time the threads used since the counters opened,
// in ns.
func (c *threadClocks) total() int64 {
	var sum int64
	var buf [8]byte
	for _, fd := range c.fds {
		if n, err := unix.Read(fd, buf[:]); err == nil && n == 8 {
			sum += int64(binary.NativeEndian.Uint64(buf[:]))
		}
	}
	return sum
}

func (c *threadClocks) close() {
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.fds = nil
}

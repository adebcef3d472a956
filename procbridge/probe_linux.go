//go:build linux

package procbridge

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// threadProbe watches the threads of a worker the hang monitor suspects.
// For each thread it keeps open the thread's /proc stat (its state) and
// schedstat (its time on a CPU and waiting for one), which a look re-reads
// with pread rather than walking /proc again: a look then costs tens of
// microseconds, not hundreds, which matters when the monitor shares a CPU
// with the spinner it watches. Where perf events allow, it also keeps an
// exact CPU counter (a task clock) on each thread it has seen runnable.
//
// The counters are why: the kernel's other accounts of another process's
// CPU (its CPU clock, schedstat) are brought up to date for a thread that
// stays on a CPU only at the scheduler's tick, so through them a spinning
// worker shows up to a tick (4 ms at HZ=250) late; reading a task clock
// updates it. They need perf events (CONFIG_PERF_EVENTS) and, for an
// unprivileged supervisor, kernel.perf_event_paranoid at most 2. They
// exclude the kernel, which that setting requires; a task clock counts the
// thread's time all the same. Without them the monitor reads the process
// CPU clock.
//
// Threads the worker starts after the probe opened are not watched; a
// suspect's probe lives for one suspicion.
type threadProbe struct {
	pid     int
	threads []probeThread
	exact   bool // CPU is read from counters on the threads that ran
}

type probeThread struct {
	tid                    int
	stat, schedstat, clock int // descriptors, -1 when not open
}

// threadSample is what one look at a suspect's threads saw.
type threadSample struct {
	runnable bool  // a thread is runnable (state R)
	inKernel bool  // a thread is blocked in the kernel (state D)
	run      int64 // ns on a CPU, summed (schedstat: moves at the tick)
	wait     int64 // ns waiting on a run queue, summed
	cpu      int64 // ns on a CPU: exact with the counters, else the process CPU clock
	cpuOK    bool  // cpu could be read
}

// openProbe opens a probe on the threads of pid, or returns nil when its
// /proc cannot be read (it is gone: the pidfd tells). It allocates only the
// probe and makes its system calls raw (rawsys_linux.go).
func openProbe(pid int) *threadProbe {
	var pb [64]byte
	dir, err := rawOpen(procPath(pb[:0], pid, 0, "task"), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil
	}
	pr := &threadProbe{pid: pid, exact: !perfUnusable.Load()}
	var db [2048]byte
	for {
		n, err := rawGetdents(dir, db[:])
		if err != nil || n <= 0 {
			break
		}
		for b := db[:n]; len(b) >= direntName; {
			// struct linux_dirent64: ino (8), off (8), reclen (2), type
			// (1), then the NUL-terminated name.
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < direntName || reclen > len(b) {
				break
			}
			if tid := direntTid(b[direntName:reclen]); tid > 0 {
				pr.addThread(tid)
			}
			b = b[reclen:]
		}
	}
	rawClose(dir)
	return pr
}

// direntName is the offset of the name in a struct linux_dirent64.
const direntName = 19

// direntTid reads a thread's directory name as its TID; 0 for "." and "..".
func direntTid(name []byte) int {
	tid := 0
	for _, c := range name {
		if c == 0 {
			break
		}
		if c < '0' || c > '9' || tid > 1<<30 {
			return 0
		}
		tid = tid*10 + int(c-'0')
	}
	return tid
}

// addThread opens the thread's stat and schedstat.
func (pr *threadProbe) addThread(tid int) {
	var pb [64]byte
	t := probeThread{tid: tid, stat: -1, schedstat: -1, clock: -1}
	t.stat, _ = rawOpen(procPath(pb[:0], pr.pid, tid, "stat"), unix.O_RDONLY)
	t.schedstat, _ = rawOpen(procPath(pb[:0], pr.pid, tid, "schedstat"), unix.O_RDONLY)
	if t.stat < 0 && t.schedstat < 0 {
		return // the thread has exited
	}
	pr.threads = append(pr.threads, t)
}

// sample looks at the threads once. A thread found runnable gets its
// counter then, if it has none: a counter costs tens of microseconds to
// open, and only a thread that runs can spin. Its CPU counts from then on,
// so a window in which a counter opened under-counts, never over-counts.
func (pr *threadProbe) sample() threadSample {
	var s threadSample
	var buf [512]byte
	for i := range pr.threads {
		t := &pr.threads[i]
		running := false
		if n, err := rawRead(t.stat, buf[:], 0); err == nil && n > 0 {
			// The state follows the command name's closing parenthesis.
			b := buf[:n]
			if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
				switch b[i+2] {
				case 'R':
					s.runnable, running = true, true
				case 'D':
					s.inKernel = true
				}
			}
		}
		if n, err := rawRead(t.schedstat, buf[:], 0); err == nil && n > 0 {
			r, w := parseSchedstat(buf[:n])
			s.run += r
			s.wait += w
		}
		if running && t.clock < 0 && pr.exact {
			pr.openClock(t)
		}
		if t.clock >= 0 {
			if n, err := rawRead(t.clock, buf[:8], -1); err == nil && n == 8 {
				s.cpu += int64(binary.NativeEndian.Uint64(buf[:8]))
			}
		}
	}
	if pr.exact {
		s.cpuOK = true
	} else {
		s.cpu = processCPU(pr.pid)
		s.cpuOK = s.cpu > 0
	}
	return s
}

// openClock opens the thread's counter. When perf events are refused, the
// probe (and every later one) falls back to the process CPU clock.
func (pr *threadProbe) openClock(t *probeThread) {
	attr := taskClockAttr()
	fd, err := rawPerfEventOpen(&attr, t.tid)
	switch {
	case err == nil:
		t.clock = fd
	case err == unix.ESRCH:
		// The thread has exited.
	default:
		perfUnusable.Store(true)
		pr.exact = false
		for i := range pr.threads {
			closeFd(&pr.threads[i].clock)
		}
	}
}

func (pr *threadProbe) close() {
	for i := range pr.threads {
		t := &pr.threads[i]
		closeFd(&t.stat)
		closeFd(&t.schedstat)
		closeFd(&t.clock)
	}
	pr.threads = nil
}

func closeFd(fd *int) {
	if *fd >= 0 {
		rawClose(*fd)
		*fd = -1
	}
}

// parseSchedstat reads the first two fields of a schedstat line: ns on a
// CPU and ns waiting on a run queue.
func parseSchedstat(b []byte) (run, wait int64) {
	f := bytes.Fields(b)
	if len(f) >= 2 {
		run, _ = strconv.ParseInt(string(f[0]), 10, 64)
		wait, _ = strconv.ParseInt(string(f[1]), 10, 64)
	}
	return run, wait
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

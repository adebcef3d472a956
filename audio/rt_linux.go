//go:build linux

package audio

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/audio/internal/bus"
	"github.com/understudy/understudy/internal/linux"
)

// A real-time process: the Go scheduler's own threads on the loop's path.
//
// A goroutine locked to its thread that sysmon preempts (the loop is, after
// 10 ms in which its futex waits were too short for its P to be taken
// away) gives its P up, and another thread of the process must run the
// scheduler to hand the P back. In normal scheduling that thread waits
// behind whatever else the machine runs, milliseconds to tens of
// milliseconds. So a real-time process has spare Ps (a system call that
// returns finds one idle and keeps going) and every one of its threads in
// SCHED_FIFO at the lowest level, the loop's own above it: the hand-off is
// then served in microseconds. Nothing in such a process runs user code
// besides the loop, so raising it all starves nothing: the threads that
// are not the loop sleep nearly always.

// rtProcs is the GOMAXPROCS of a real-time process: an idle P for every
// thread that returns from a system call while the CPUs' worth are taken.
func rtProcs() int { return runtime.NumCPU() + 4 }

// raiseProcess puts every thread of this process but the calling one in
// SCHED_FIFO 1, without reset-on-fork, so that the threads the runtime
// makes later (cloned from these) are raised too. The calling thread is
// the loop's, at its own level. It reports whether every thread was raised.
func raiseProcess() bool {
	self := unix.Gettid()
	all := true
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
	ok := linux.EachTask(os.Getpid(), func(tid int) {
		if tid != self && unix.SchedSetAttr(tid, &attr, 0) != nil {
			all = false
		}
	})
	return ok && all
}

// lockMemory locks the process's pages, present and future, so that the
// kernel never takes them away and no page fault stalls the loop, when it
// may: with CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK. With a finite
// limit it does not try: MCL_FUTURE would make the runtime's later
// mappings fail once the limit is reached.
//
// Pages are locked as they are touched (MCL_ONFAULT), not all at once: a
// Go program built with cgo has an 8 MiB stack for each of its threads and
// tens of MiB of reserved heap and bss, a few hundred MiB a node process
// would otherwise fault in and zero inside mlockall, in the loop's thread
// at its real-time priority, for tens of milliseconds of a CPU that the
// nodes of the same level then wait for; and free again when it dies. What
// the loop touches is touched before it serves (warmUp, the state slots),
// and the shared mappings it works in are locked whole now (lockShared).
func lockMemory() bool {
	if !mayLockAll() {
		return false
	}
	if unix.Mlockall(unix.MCL_CURRENT|unix.MCL_FUTURE|unix.MCL_ONFAULT) != nil {
		return false
	}
	lockShared()
	return true
}

// lockShared faults in and locks every shared mapping of the process: the
// bus and the state segment, which a spare that takes over reads and
// writes at once, and whose pages other processes made.
func lockShared() {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	for line := range bytes.Lines(b) {
		// start-end perms offset dev inode path
		f := bytes.Fields(line)
		if len(f) < 2 || len(f[1]) < 4 || f[1][3] != 's' {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		unix.Syscall(unix.SYS_MLOCK, uintptr(start), uintptr(end-start), 0)
	}
}

// mayLockAll reports whether mlockall of everything, present and future,
// is allowed: CAP_IPC_LOCK in the effective set, or RLIMIT_MEMLOCK
// unlimited.
func mayLockAll() bool {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim) == nil && lim.Cur == unix.RLIM_INFINITY {
		return true
	}
	return hasCap(unix.CAP_IPC_LOCK)
}

// hasCap reports whether the process has capability c in its effective set.
func hasCap(c int) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("CapEff:")); ok {
			var m uint64
			for _, ch := range bytes.TrimSpace(v) {
				switch {
				case ch >= '0' && ch <= '9':
					m = m<<4 | uint64(ch-'0')
				case ch >= 'a' && ch <= 'f':
					m = m<<4 | uint64(ch-'a'+10)
				}
			}
			return m&(1<<uint(c)) != 0
		}
	}
	return false
}

// setupRealTime makes the calling process, whose calling thread runs the
// loop at prio, a real-time process as above, as far as it is allowed, and
// returns the bus Setup bits of what it got.
func setupRealTime() uint32 {
	var got uint32
	if raiseProcess() {
		got |= bus.SetupThreadsRaised
	}
	if lockMemory() {
		got |= bus.SetupMemoryLocked
	}
	return got
}

// The engine's own process during a Run: the driver's thread is the
// highest of the engine, but it runs Go code, and the Go scheduler hands
// it its P back through another thread of the process. Sysmon preempts a
// goroutine that has run on one scheduling tick for 10 ms, and the driver,
// locked to its thread and never parking in the scheduler, always has: a
// locked goroutine that is preempted gives its P up, and a thread that
// holds or finds a P must run the scheduler to hand it back (so must one
// when the driver's futex wait returns to find its P taken and none idle).
// In normal scheduling that thread waits behind the machine's other work:
// beside two busy loops, the driver woke up to tens of milliseconds late.
// So for the length of a Run every other thread of the process that runs
// in normal scheduling is put in SCHED_FIFO 1, and given back its
// scheduling when the last Run of the process ends. They sleep nearly
// always; what the program runs on them meanwhile runs ahead of the
// machine's normal work, below every node. They are raised with
// reset-on-fork, so that a process started meanwhile (a node process
// restarted, or anything the program runs) starts in normal scheduling;
// threads the runtime makes meanwhile are not raised either, so a few
// idle ones are made first (spareThreads).
var engineRaise struct {
	mu   sync.Mutex
	runs int
	old  map[int]*unix.SchedAttr // raised threads, and what they had
}

// raiseEngine raises the process's other threads for a Run, and returns
// what undoes it.
func raiseEngine() (restore func()) {
	r := &engineRaise
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs++; r.runs == 1 {
		spareThreads(4)
		r.old = map[int]*unix.SchedAttr{}
		self := unix.Gettid()
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1, Flags: linux.ResetOnFork}
		linux.EachTask(os.Getpid(), func(tid int) {
			old, err := unix.SchedGetAttr(tid, 0)
			if err != nil || tid == self || old.Policy != unix.SCHED_NORMAL {
				return
			}
			if unix.SchedSetAttr(tid, &attr, 0) == nil {
				r.old[tid] = old
			}
		})
	}
	var once sync.Once
	return func() { once.Do(lowerEngine) }
}

// lowerEngine ends one Run's raise: the last gives every thread raised its
// scheduling back. A thread no longer as the raise left it keeps what it
// has.
func lowerEngine() {
	r := &engineRaise
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs--; r.runs > 0 {
		return
	}
	for tid, old := range r.old {
		cur, err := unix.SchedGetAttr(tid, 0)
		if err != nil || cur.Policy != unix.SCHED_FIFO || cur.Priority != 1 {
			continue
		}
		if unix.SchedSetAttr(tid, old, 0) != nil {
			unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL, Nice: old.Nice}, 0)
		}
	}
	r.old = nil
}

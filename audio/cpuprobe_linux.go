//go:build linux

package audio

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
)

// A SCHED_FIFO node runnable past its watchdog is on its CPU and
// overrunning, or it is held off the CPU: queued behind work of a higher
// priority (the driver itself, a kernel thread, another node), or on a
// virtual CPU the host is not running. Its /proc readings do not say
// which: a running thread's time on a CPU moves only at the scheduler's
// tick (4 ms at HZ=250, several watchdogs), and a queued one's wait only
// once it gets the CPU. But preempting a running thread brings its time up
// to date at once. So the driver keeps a prober on each CPU, a thread of
// its own in SCHED_FIFO at the driver's priority (above every node),
// pinned there and asleep; to judge such a node it makes the prober of the
// CPU the node is on run, and reads the node. A node that was on that CPU
// is preempted and shows CPU time accrued within microseconds; a node held
// off it shows none by the limit, whether the prober ran (it preempted
// the holder, not the node) or not (the host did not run the CPU, or work
// above the driver holds it).
//
// The driver waits for it spinning on its own CPU, not asleep: a node
// queued on the prober's CPU would otherwise be pulled onto the driver's,
// run there, and show CPU time for a probe that found it held.

// cpuProbe is one CPU's prober. It is made to run by a signal to its
// thread (SIGURG, the Go runtime's own preemption signal, which it takes
// for a spurious one), not by a wake of the futex it parks on: a
// thread woken from a system call waits for a P before its goroutine goes
// on, and parks elsewhere when there is none, where no wake of its futex
// reaches it; a signal makes the thread run wherever it sleeps.
type cpuProbe struct {
	word uint32 // bumped and woken to end it
	tid  int    // its thread, once up
	up   atomic.Bool
	quit atomic.Bool
}

// cpuProbes are a Run's probers, by CPU (nil where none), owned by the
// Run: stop ends them and waits.
type cpuProbes struct {
	cpu []*cpuProbe
	wg  sync.WaitGroup
}

// startProbes starts a prober at SCHED_FIFO priority prio on each CPU this
// process may run on: its main thread's and the caller's (either may be
// pinned narrower than the process). It does not wait for them: a probe
// of a CPU whose prober is not up yet is not made.
func startProbes(prio int) *cpuProbes {
	var set, own unix.CPUSet
	if unix.SchedGetaffinity(os.Getpid(), &set) != nil || unix.SchedGetaffinity(0, &own) != nil {
		return &cpuProbes{}
	}
	for i := range set {
		set[i] |= own[i]
	}
	ps := &cpuProbes{cpu: make([]*cpuProbe, len(set)*64)}
	for cpu := range ps.cpu {
		if set.IsSet(cpu) {
			p := &cpuProbe{}
			ps.cpu[cpu] = p
			ps.wg.Add(1)
			go p.run(cpu, prio, ps.wg.Done)
		}
	}
	return ps
}

// run moves the goroutine's thread to cpu, raises it to prio and parks it
// until stop, then gives the thread back as it found it (keeping
// reset-on-fork, which only a privileged process may clear). A thread it
// cannot give back stays locked, and ends with the goroutine.
func (p *cpuProbe) run(cpu, prio int, done func()) {
	defer done()
	runtime.LockOSThread()
	var oldSet, set unix.CPUSet
	old, err := unix.SchedGetAttr(0, 0)
	if err != nil || unix.SchedGetaffinity(0, &oldSet) != nil {
		return
	}
	old.Flags |= linux.ResetOnFork
	defer func() {
		if unix.SchedSetaffinity(0, &oldSet) == nil && unix.SchedSetAttr(0, old, 0) == nil {
			runtime.UnlockOSThread()
		}
	}()
	// Raised before it moves: a CPU an overrunning node holds runs
	// nothing of normal priority.
	set.Set(cpu)
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(prio), Flags: linux.ResetOnFork}
	if unix.SchedSetAttr(0, &attr, 0) != nil || unix.SchedSetaffinity(0, &set) != nil {
		return
	}
	p.tid = unix.Gettid()
	p.up.Store(true)
	for {
		seen := atomic.LoadUint32(&p.word)
		if p.quit.Load() {
			return
		}
		linux.FutexWait(&p.word, seen, 0)
	}
}

// stop ends every prober and waits for them.
func (ps *cpuProbes) stop() {
	for _, p := range ps.cpu {
		if p != nil {
			p.quit.Store(true)
			atomic.AddUint32(&p.word, 1)
			linux.FutexWake(&p.word, 1)
		}
	}
	ps.wg.Wait()
}

// cpuLook is what a probe of a runnable thread found.
type cpuLook struct {
	probed bool       // the probe was made
	ran    int64      // the thread's time on a CPU across the probe
	task   linux.Task // the thread as read before, with its time on a CPU after the probe (State X: gone)
}

// look probes thread tid of process pid, read as t, runnable: it signals
// the prober of the CPU t was on and reads the thread until its time on a
// CPU moves (it was on that CPU: the prober preempted it) or limit passes
// (it was held off: queued behind higher-priority work, or on a CPU that
// ran nothing). The task it returns is t with that time, or gone. Not
// probed when t's CPU is unknown or its prober is not up.
func (ps *cpuProbes) look(pid, tid int, t linux.Task, limit int64) cpuLook {
	if ps == nil || t.CPU < 0 || t.CPU >= len(ps.cpu) || ps.cpu[t.CPU] == nil || !ps.cpu[t.CPU].up.Load() {
		return cpuLook{task: t}
	}
	if t.CPU == ownCPU() {
		// Queued behind the driver itself, which is looking at it.
		return cpuLook{probed: true, task: t}
	}
	// Its schedstat alone, kept open and read again: each read is on the
	// way to a spinner's verdict.
	ss, ok := linux.OpenSchedstat(pid, tid)
	if !ok {
		t.State = 'X' // gone
		return cpuLook{probed: true, task: t}
	}
	defer ss.Close()
	unix.Tgkill(os.Getpid(), ps.cpu[t.CPU].tid, unix.SIGURG)
	for {
		run, ok := ss.Run()
		if !ok {
			t.State = 'X' // gone
			return cpuLook{probed: true, task: t}
		}
		if ran := run - t.Run; ran != 0 || mono.Now() >= limit {
			t.Run += ran
			return cpuLook{probed: true, ran: ran, task: t}
		}
	}
}

// ownCPU is the CPU the calling thread runs on, -1 when unknown.
func ownCPU() int {
	var cpu uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		return -1
	}
	return int(cpu)
}

//go:build linux

package procbridge

import (
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
)

// threadProbe watches the threads of a worker the hang monitor suspects.
// For each thread it keeps open the thread's /proc stat (its state),
// schedstat (its time on a CPU and waiting for one) and status (how often
// it went to sleep of its own accord), which a look re-reads
// with pread rather than walking /proc again: a look then costs tens of
// microseconds, not hundreds, which matters when the monitor shares a CPU
// with the spinner it watches. Where perf events allow, it also keeps an
// exact CPU counter (a task clock, internal/linux) on each thread it has
// seen runnable: through the kernel's other accounts a spinning worker
// shows up to a scheduler tick late. Without them the monitor reads the
// process CPU clock.
//
// Threads the worker starts after the probe opened are not watched; a
// suspect's probe lives for one suspicion. Every system call it makes is
// raw (monitor_linux.go).
//
// A worker chooses how many threads it has, so the probe watches at most
// probeThreadsMax of them, the first its /proc lists (the leader first):
// a worker of twenty thousand threads cannot take its supervisor's
// descriptors, nor make each look cost it thousands of reads. A worker
// with more is judged on the states and scheduler times of those it
// watches, and on the process CPU clock, which counts every thread.
type threadProbe struct {
	pid     int
	threads []probeThread
	exact   bool // CPU is read from counters on the threads that ran
	capped  bool // the worker has more threads than the probe watches
}

// probeThreadsMax is how many of a worker's threads a probe watches.
const probeThreadsMax = 64

type probeThread struct {
	tid   int
	files linux.TaskFiles
	clock int // the task clock's descriptor, -1 when not open
	// At the last look: the thread's time on a CPU (its schedstat's, and
	// its counter's, -1 without one) and its voluntary context switches
	// (-1 unread); seen once it has been looked at. nonstop is its CPU
	// since it last went to sleep of its own accord, as the looks saw.
	run, cpu, voluntary int64
	nonstop             int64
	seen                bool
	// base is the thread's schedstat (time on a CPU, waiting) when the
	// probe took it up: 0 for those there at the open, and for a thread
	// made since, what it had done before, which the sums leave out.
	baseRun, baseWait int64
}

// threadSample is what one look at a suspect's threads saw.
type threadSample struct {
	runnable bool  // a thread is runnable (state R)
	inKernel bool  // a thread is blocked in the kernel (state D)
	run      int64 // ns on a CPU, summed (schedstat: moves at the tick)
	wait     int64 // ns waiting on a run queue, summed
	cpu      int64 // ns on a CPU: exact with the counters, else the process CPU clock
	cpuOK    bool  // cpu could be read
	stopped  bool  // a thread is stopped by a signal or traced (state T or t)
	dead     bool  // every thread is a zombie, gone, or in its exit path: the process is dying
	// nonstop is the most CPU one thread has had since the probe opened
	// without going to sleep of its own accord (a voluntary context
	// switch), as the looks saw: a spinning loop never sleeps, while a
	// runtime's own threads (its monitor, its poller) wake and sleep.
	// nonstopOK: it could be read of every thread.
	nonstop   int64
	nonstopOK bool
	cpus      unix.CPUSet // the CPUs its live threads last ran on
}

// ranOn adds cpu, a live thread's last (linux.Task.CPU, -1 unread), to
// the sample's CPUs.
func (s *threadSample) ranOn(cpu int) {
	if cpu >= 0 && cpu < maxCPU(&s.cpus) {
		s.cpus.Set(cpu)
	}
}

// openProbe opens a probe on the threads of pid, or returns nil when its
// /proc cannot be read (it is gone: the pidfd tells). It allocates only the
// probe.
func openProbe(pid int) *threadProbe {
	pr := &threadProbe{pid: pid, exact: linux.TaskClocksUsable()}
	if !linux.EachTask(pid, pr.addThread) {
		return nil
	}
	if pr.capped {
		pr.exact = false // counters would see the watched threads only
	}
	return pr
}

// addThread opens the thread's stat and schedstat, unless the probe
// watches as many threads as it may.
func (pr *threadProbe) addThread(tid int) {
	if len(pr.threads) >= probeThreadsMax {
		pr.capped = true
		return
	}
	f, ok := linux.OpenTask(pr.pid, tid)
	if !ok {
		return // the thread has exited
	}
	pr.threads = append(pr.threads, probeThread{tid: tid, files: f, clock: -1})
}

// sample looks at the threads once. A thread found runnable gets its
// counter then, if it has none: a counter costs tens of microseconds to
// open, and only a thread that runs can spin. Its CPU counts from then on,
// so a window in which a counter opened under-counts, never over-counts.
func (pr *threadProbe) sample() threadSample {
	s := threadSample{dead: true, nonstopOK: true}
	var live, threads int64 // threads read, and the process's count
	for i := range pr.threads {
		t := &pr.threads[i]
		task := t.files.Read()
		if task.State != 0 {
			live++
			threads = max(threads, task.Threads)
		}
		running := false
		switch task.State {
		case 'R':
			s.runnable, running = true, true
		case 'D':
			s.inKernel = true
		case 'T', 't':
			s.stopped = true
		}
		if !taskDying(task) {
			s.dead = false
			s.ranOn(task.CPU)
		}
		s.run += task.Run - t.baseRun
		s.wait += task.Wait - t.baseWait
		if running && t.clock < 0 && pr.exact {
			pr.openClock(t)
		}
		cpu := int64(-1)
		if t.clock >= 0 {
			if ns, ok := linux.ReadTaskClock(t.clock); ok {
				s.cpu += ns
				cpu = ns
			}
		}
		// Its time on a CPU since the last look: the counter's (exact)
		// when it had one then, else the schedstat's (at the tick).
		ran := task.Run - t.run
		if cpu >= 0 && t.cpu >= 0 {
			ran = cpu - t.cpu
		}
		switch {
		case task.Voluntary < 0:
			s.nonstopOK = false
		case !t.seen || task.Voluntary != t.voluntary:
			t.nonstop = 0 // the first look, or it slept since the last
		default:
			t.nonstop += max(ran, 0)
		}
		s.nonstop = max(s.nonstop, t.nonstop)
		t.run, t.cpu, t.voluntary, t.seen = task.Run, cpu, task.Voluntary, true
	}
	if threads > live && !pr.capped {
		pr.takeUpNew(&s)
	}
	if pr.exact {
		s.cpuOK = true
	} else {
		s.cpu = linux.ProcessCPU(pr.pid)
		s.cpuOK = s.cpu > 0
	}
	return s
}

// takeUpNew watches the threads the process made since the probe opened
// (a promoted spare, or a runtime, starts threads as it gets going): one of
// them may be the thread the worker waits for, runnable but held off a
// CPU, and a look that missed it would find every thread asleep. Each is
// read once now, for s's states; its time before counts in no sum.
func (pr *threadProbe) takeUpNew(s *threadSample) {
	known := make(map[int]bool, len(pr.threads))
	for i := range pr.threads {
		known[pr.threads[i].tid] = true
	}
	linux.EachTask(pr.pid, func(tid int) {
		if known[tid] || pr.capped {
			return
		}
		n := len(pr.threads)
		if pr.addThread(tid); len(pr.threads) == n {
			return // exited meanwhile, or past the cap
		}
		t := &pr.threads[n]
		task := t.files.Read()
		t.baseRun, t.baseWait, t.run = task.Run, task.Wait, task.Run
		switch task.State {
		case 'R':
			s.runnable = true
			if t.clock < 0 && pr.exact {
				pr.openClock(t)
			}
		case 'D':
			s.inKernel = true
		case 'T', 't':
			s.stopped = true
		}
		if !taskDying(task) {
			s.dead = false
			s.ranOn(task.CPU)
		}
	})
	if pr.capped {
		pr.exact = false // counters would see the watched threads only
	}
}

// taskDying reports whether a thread is dead or on its way: a zombie, gone
// (its stat unreadable), in the kernel's exit path, or killed, with a
// SIGKILL pending that it has not acted on yet. A killed process may wait
// a while for a CPU to die on (a loaded machine), or not run at all (a
// frozen cgroup), silent meanwhile: it is dying, not hung.
func taskDying(t linux.Task) bool {
	return t.State == 0 || t.State == 'Z' || t.State == 'X' || t.Flags&linux.PFExiting != 0 || t.Killed()
}

// openClock opens the thread's counter. When perf events are refused, the
// probe (and every later one) falls back to the process CPU clock.
func (pr *threadProbe) openClock(t *probeThread) {
	fd, err := linux.OpenTaskClock(t.tid)
	switch {
	case err == nil:
		t.clock = fd
	case linux.TaskClocksUsable():
		// The thread has exited.
	default:
		pr.exact = false
		for i := range pr.threads {
			pr.threads[i].closeClock()
		}
	}
}

func (pr *threadProbe) close() {
	for i := range pr.threads {
		t := &pr.threads[i]
		t.files.Close()
		t.closeClock()
	}
	pr.threads = nil
}

func (t *probeThread) closeClock() {
	if t.clock >= 0 {
		linux.CloseTaskClock(t.clock)
		t.clock = -1
	}
}

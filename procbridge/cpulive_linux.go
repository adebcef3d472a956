//go:build linux

package procbridge

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
)

// A CPU the host has stopped running fires none of its timers. A
// hypervisor deschedules a virtual CPU for tens to hundreds of
// milliseconds on a busy host, one CPU or all of them at once. A thread's
// timer is queued on the CPU it went to sleep on, so a worker whose
// threads sleep on timers queued on a stopped CPU looks, from the others,
// exactly like a hung one: every thread asleep, no CPU used, no wait on a
// run queue. The monitor's own late wake shows a stall of the CPU it runs
// on, and many workers silent together a stall of the machine; a stopped
// CPU that holds one worker's timers shows neither.
//
// So when a watch opens (and again at its looks, once cpuLiveWithin has
// passed since the last ask) the monitor wakes a thread of its own,
// parked on each CPU the worker's threads last ran on and raised as the
// monitor is; before it calls the worker asleep, it checks that each of
// those CPUs has run it since. One that has not, by cpuLiveWithin after
// the wake, is stalled, and the worker's silence is the machine's. A live
// CPU has run it long before the verdict, which then waits for nothing.
// A prober is started for a CPU the first time a watch opens on a worker
// whose threads ran there, and parks until the monitor stops (nothing
// left to watch).

// cpuLiveWithin is how soon a live CPU runs its prober: a raised thread
// woken on a CPU that runs ordinary tasks preempts them at once, so a CPU
// that takes a scheduler tick and more has run nothing of ours.
const cpuLiveWithin = stallMin

// cpuProber is a thread locked to one CPU that does nothing but wake.
type cpuProber struct {
	word uint32       // bumped and woken to make it run
	tid  atomic.Int64 // its thread, once it runs on its CPU; 0 before
	quit atomic.Bool  // stopProbers: end
}

// task reads the prober's thread: its state, and how many times it has
// been put on a CPU (Slices -1 when it cannot be read). The files are
// opened at each read: a prober is asked only while a worker is watched,
// and keeps no descriptor.
func (p *cpuProber) task() (linux.Task, bool) {
	t, ok := linux.ReadTask(os.Getpid(), int(p.tid.Load()))
	if !ok {
		return linux.Task{Slices: -1}, false
	}
	return t, true
}

// probers are the CPUs' probers, by CPU; nil where the CPU refused one
// (offline, or outside this process's CPUs).
var probers struct {
	mu  sync.Mutex
	cpu map[int]*cpuProber
}

// startProbers starts a prober on each CPU of set that has none. It does
// not wait for them.
func startProbers(set *unix.CPUSet) {
	probers.mu.Lock()
	defer probers.mu.Unlock()
	for cpu := range maxCPU(set) {
		if set.IsSet(cpu) {
			proberLocked(cpu)
		}
	}
}

// proberLocked returns cpu's prober, starting one if it has none: it is
// not up (tid 0) until it has run on its CPU. nil where the CPU refused
// one (probers.mu held).
func proberLocked(cpu int) *cpuProber {
	if p, ok := probers.cpu[cpu]; ok {
		return p
	}
	if probers.cpu == nil {
		probers.cpu = map[int]*cpuProber{}
	}
	p := &cpuProber{}
	probers.cpu[cpu] = p
	go p.run(cpu)
	return p
}

// stopProbers ends every prober; the next watch starts them again.
func stopProbers() {
	probers.mu.Lock()
	defer probers.mu.Unlock()
	for cpu, p := range probers.cpu {
		if p != nil {
			p.quit.Store(true)
			atomic.AddUint32(&p.word, 1)
			linux.FutexWake(&p.word, 1)
		}
		delete(probers.cpu, cpu)
	}
}

// maxCPU is one past the highest CPU set can hold.
func maxCPU(set *unix.CPUSet) int { return len(set) * 64 }

// run locks the goroutine to its thread, moves it to cpu and parks it
// there until stopProbers. The thread is never unlocked: it is the CPU's
// alone, and ends with the goroutine. A CPU that cannot be had is marked
// refused.
func (p *cpuProber) run(cpu int) {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if unix.SchedSetaffinity(0, &set) != nil {
		probers.mu.Lock()
		if probers.cpu[cpu] == p {
			probers.cpu[cpu] = nil
		}
		probers.mu.Unlock()
		return
	}
	linux.RaiseOwn()
	p.tid.Store(int64(linux.Gettid()))
	for {
		seen := atomic.LoadUint32(&p.word)
		if p.quit.Load() {
			return
		}
		linux.FutexWait(&p.word, seen, 0)
	}
}

// cpuLook is what the watch of one worker asked of the probers at its
// last look: which it woke, and what their threads had run by then.
type cpuLook struct {
	at     int64 // when they were woken
	n      int
	p      [8]*cpuProber
	slices [8]int64 // times put on a CPU, at the wake
	run    [8]int64 // ns on a CPU, at the wake
}

// open wakes the probers of the CPUs of set, recording what their threads
// had run, for stalled to judge at the next look. CPUs without a prober
// get one, not judged until it runs.
func (l *cpuLook) open(set *unix.CPUSet) {
	l.n, l.at = 0, mono.Now()
	probers.mu.Lock()
	defer probers.mu.Unlock()
	for cpu := range maxCPU(set) {
		if !set.IsSet(cpu) {
			continue
		}
		p := proberLocked(cpu)
		if p == nil || p.tid.Load() == 0 || p.quit.Load() {
			continue
		}
		if l.n == len(l.p) {
			break // a worker's threads on more CPUs than that: these say enough
		}
		t, ok := p.task()
		if !ok {
			continue
		}
		l.p[l.n], l.slices[l.n], l.run[l.n] = p, t.Slices, t.Run
		l.n++
		atomic.AddUint32(&p.word, 1)
		linux.FutexWake(&p.word, 1)
	}
}

// stalled reports whether a CPU the look woke a prober on has run nothing
// of it since, cpuLiveWithin after the wake: it waits for that long at
// most, and only for a CPU that has not run it yet. A prober that ran
// shows it either way: put on its CPU again (its slices), or, awake when
// woken, running on into its next sleep (its time on a CPU, brought up to
// date as it leaves the CPU).
func (l *cpuLook) stalled() bool {
	for {
		ran := 0
		for i, p := range l.p[:l.n] {
			if t, ok := p.task(); !ok || t.Slices != l.slices[i] || t.Run != l.run[i] {
				ran++
			}
		}
		if ran == l.n {
			return false
		}
		now := mono.Now()
		if now >= l.at+int64(cpuLiveWithin) {
			return true
		}
		linux.SleepUntil(min(now+cpuLookStep, l.at+int64(cpuLiveWithin)))
	}
}

// cpuLookStep is how often stalled reads its probers' schedstats.
const cpuLookStep = int64(50_000)

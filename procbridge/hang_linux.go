//go:build linux

package procbridge

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/procbridge/internal/shm"
)

// The hang monitor: one goroutine watches the heartbeats of every process
// that has one. It sleeps in the netpoller on a timerfd set to the earliest
// moment a worker could become suspect (its last beat
// plus its timeout), so with healthy workers it wakes about once per
// (timeout − interval) whatever their number, and it does not exist at all
// while no process has a heartbeat.
//
// A worker past its deadline is suspect, not hung: on a loaded machine it
// may simply be waiting for a CPU. The monitor confirms by reading the
// scheduler's own accounting (/proc/PID/task/*/stat and schedstat): if no
// thread of the worker is runnable, it is asleep or stopped and not beating
// — hung. Otherwise it looks again after a short window: a worker that spent
// the window waiting on a run queue (or blocked in the kernel), and got less
// CPU than one heartbeat interval since it became suspect, is held up, not
// hung, and gets another window, up to a cap of silence.
var monitor hangMonitor

type hangMonitor struct {
	mu      sync.Mutex
	watch   map[*Process]*hangState
	running bool
	timer   *os.File // a timerfd in the netpoller: exact wake-ups, no thread of its own
}

type hangState struct {
	p         *Process
	timeout   int64
	interval  int64
	window    int64
	cap       int64
	lastCount uint64
	progress  int64 // mono ns of the last observed progress
	suspect   bool
	confirmAt int64
	run0      int64 // CPU ns when it became suspect (schedstat, per tick)
	cpu0      int64 // CPU ns at the start of the window (exact clock)
	waitLast  int64 // run-queue wait ns at the last look
	starved   int64
	kind      HangKind // what the last look saw, once hung
}

func (m *hangMonitor) add(p *Process) {
	hb := p.spec.Heartbeat
	st := &hangState{
		p:        p,
		timeout:  int64(hb.Timeout),
		interval: int64(hb.Interval),
		progress: p.readyMono.Load(),
	}
	st.window = min(max(st.interval/4, int64(250*time.Microsecond)), int64(2*time.Millisecond))
	st.cap = max(10*st.timeout, int64(250*time.Millisecond))
	st.lastCount, _ = p.lane.Heartbeat()
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-p.exited:
		return // already gone: nothing to watch
	default:
	}
	if m.watch == nil {
		m.watch = map[*Process]*hangState{}
	}
	m.watch[p] = st
	if !m.running {
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
		if err != nil {
			delete(m.watch, p)
			return // no timerfd (Linux < 2.6.25): heartbeats go unwatched
		}
		m.timer = os.NewFile(uintptr(fd), "understudy-hang-timer")
		m.running = true
		go m.run(m.timer)
	}
	m.poke()
}

// poke makes the monitor look now (m.mu held): the timer expires at once.
func (m *hangMonitor) poke() { m.arm(1) }

// arm sets the timer to expire at the monotonic time at (m.mu held).
func (m *hangMonitor) arm(at int64) {
	rc, err := m.timer.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(at)}
		unix.TimerfdSettime(int(fd), unix.TFD_TIMER_ABSTIME, &spec, nil)
	})
}

func (m *hangMonitor) remove(p *Process) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.watch[p]; !ok {
		return
	}
	delete(m.watch, p)
	m.poke()
}

// run is the monitor's loop. It sleeps in the netpoller on the timerfd,
// which expires at the earliest moment a worker could become suspect (or at
// once, when a worker is added or removed), so a wake-up costs no thread
// hand-off and is exact to the kernel's timer.
func (m *hangMonitor) run(timer *os.File) {
	var hung []*hangState
	var buf [8]byte
	for {
		m.mu.Lock()
		if len(m.watch) == 0 {
			m.running = false
			m.timer = nil
			m.mu.Unlock()
			timer.Close()
			return
		}
		now := shm.Now()
		next := int64(1<<63 - 1)
		hung = hung[:0]
		for p, st := range m.watch {
			at, isHung := st.check(now)
			if isHung {
				hung = append(hung, st)
				delete(m.watch, p)
				continue
			}
			next = min(next, at)
		}
		if len(m.watch) > 0 {
			m.arm(max(next, 1))
		}
		m.mu.Unlock()
		for _, st := range hung {
			st.p.hung(st, shm.Now())
		}
		if len(hung) > 0 {
			continue // go round: perhaps to exit
		}
		if _, err := timer.Read(buf[:]); err != nil {
			continue
		}
	}
}

// observe records progress when the worker beat since the last look.
func (st *hangState) observe(now int64) bool {
	count, at := st.p.lane.Heartbeat()
	if count == st.lastCount {
		return false
	}
	st.lastCount = count
	// Trust the worker's own beat time only when it is plausible.
	if at > st.progress && at <= now {
		st.progress = at
	} else {
		st.progress = now
	}
	st.suspect = false
	return true
}

// check returns when to look at the worker next, or that it is hung.
func (st *hangState) check(now int64) (next int64, hung bool) {
	if st.p.reason.Load() != reasonNone {
		return now + st.timeout, false // being stopped: not ours to judge
	}
	if st.p.seg.ActiveLane() != st.p.lane.Index() {
		// A parked spare does not beat; its clock starts when it is promoted.
		st.progress, st.suspect = now, false
		return now + st.timeout, false
	}
	st.observe(now)
	deadline := st.progress + st.timeout
	if now < deadline {
		return deadline, false
	}
	runnable, inKernel, run, wait := schedSample(st.p.pid)
	// Reading the scheduler's accounting takes time, during which this
	// thread may itself be descheduled: look at the heartbeat once more.
	if now := shm.Now(); st.observe(now) {
		return st.progress + st.timeout, false
	}
	if !st.suspect {
		st.suspect = true
		st.run0, st.waitLast = run, wait
		st.cpu0 = processCPU(st.p.pid)
		st.confirmAt = now + st.firstWindow(now-deadline)
		return st.confirmAt, false
	}
	if now < st.confirmAt {
		return st.confirmAt, false
	}
	busy := machineBusy()
	waited := wait - st.waitLast
	st.waitLast = wait
	cpu := processCPU(st.p.pid)
	// Running flat out through the window without a beat is a spinning
	// loop, busy machine or not (a healthy worker that gets the CPU beats
	// within its loop's time). Another process's CPU clock moves for a
	// thread on a CPU only at the scheduler's tick (4 ms at HZ=250), so a
	// spinner shows after a tick: hence about 4.7 ms past the timeout at
	// p50. (Taking a runnable worker on an idle machine for a spinner
	// called it at 0.7 ms, but also called a worker whose sleep overslept
	// while another of its threads ran: 1 false alarm in 1,500.)
	spinning := run-st.run0 >= st.interval || (st.cpu0 > 0 && cpu-st.cpu0 >= st.window/2)
	// Held up: waiting for a CPU on a busy machine, or blocked in the
	// kernel (uninterruptible: a page fault served by a slow disk, memory
	// reclaim), which is the machine's doing, not the worker's loop's.
	heldUp := busy && (runnable || waited > 0) || inKernel
	switch {
	case spinning:
		st.kind = HangSpinning
	case heldUp && now-st.progress < st.cap:
		st.starved += max(waited, now-st.confirmAt+st.confirmWindow(busy))
		st.confirmAt = now + st.confirmWindow(busy)
		st.cpu0 = cpu
		return st.confirmAt, false
	case heldUp:
		st.kind = HangHeldUp
	default:
		st.kind = HangAsleep
	}
	return 0, true
}

// firstWindow is how long a worker just found past its deadline gets to
// beat before the second look. Normally it is short: a spinning or sleeping
// hang shows at once. But when the monitor itself came late, by late ns,
// more than a busy machine's window (a scheduler tick or more), it had been
// kept from a CPU for about that long, and so, likely, had the worker: a
// worker woken just now from such a stall may not have run its loop yet,
// and a silence the monitor could not watch is not held against it. The
// window is then as long as the monitor's own delay, up to the cap of
// silence. (Without this, one worker in a few thousand under a saturated
// machine was called hung: found asleep, its netpoller due within 1 ms,
// with no CPU used in the 500 us after an 8-31 ms stall of the monitor's.)
func (st *hangState) firstWindow(late int64) int64 {
	if late > st.confirmWindow(true) {
		return min(late, st.cap)
	}
	return st.window
}

// confirmWindow is how long a suspect gets to beat before the next look.
// The kernel's accounting moves in scheduler ticks, so on a busy machine
// the window is long enough to see it move; on an idle one nothing keeps a
// healthy worker from beating, and the window is short.
func (st *hangState) confirmWindow(busy bool) int64 {
	if busy {
		return max(st.window, st.interval, int64(4*time.Millisecond))
	}
	return st.window
}

// machineBusy reports whether more tasks are runnable than there are CPUs
// (the instantaneous count in /proc/loadavg, this thread included): then a
// worker that misses a beat may be waiting for a CPU.
func machineBusy() bool {
	var buf [128]byte
	b := readSmall("/proc/loadavg", buf[:])
	f := bytes.Fields(b)
	if len(f) < 4 {
		return true // cannot tell: give the worker the benefit of the doubt
	}
	running, _, ok := bytes.Cut(f[3], []byte("/"))
	n, err := strconv.Atoi(string(running))
	if !ok || err != nil {
		return true
	}
	return n > onlineCPUs()
}

var cpus struct {
	once sync.Once
	n    int
}

func onlineCPUs() int {
	cpus.once.Do(func() {
		cpus.n = runtime.NumCPU()
		if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
			if n := countCPUList(string(bytes.TrimSpace(b))); n > 0 {
				cpus.n = n
			}
		}
	})
	return cpus.n
}

// countCPUList counts the CPUs in a list like "0-3,6,8-9".
func countCPUList(s string) int {
	n := 0
	for _, part := range bytes.Split([]byte(s), []byte(",")) {
		lo, hi, isRange := bytes.Cut(part, []byte("-"))
		a, err := strconv.Atoi(string(lo))
		if err != nil {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(string(hi)); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}

// hung reports a confirmed hang and kills the worker's group.
func (p *Process) hung(st *hangState, now int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return // it died on its own first: Exited tells
	}
	p.setReason(reasonHung)
	if p.reason.Load() != reasonHung {
		return // already being stopped for another reason
	}
	err := &HangError{
		Name:    p.name,
		Pid:     p.pid,
		Silence: time.Duration(now - st.progress),
		Timeout: time.Duration(st.timeout),
		Starved: time.Duration(st.starved),
		Kind:    st.kind,
	}
	p.emit(Hung{Pid: p.pid, Mono: now, Err: err})
	p.signalGroupLocked(sigKill)
}

// schedSample sums, over the threads of pid, the time on a CPU and the time
// waiting on a run queue (ns), and says whether any thread is runnable and
// whether any is blocked in the kernel (uninterruptible sleep, state D).
// Errors (the process is gone, /proc is missing) read as "not runnable":
// the pidfd then tells the real story.
func schedSample(pid int) (runnable, inKernel bool, run, wait int64) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	f, err := os.Open(dir)
	if err != nil {
		return false, false, 0, 0
	}
	tids, _ := f.Readdirnames(-1)
	f.Close()
	var buf [512]byte
	for _, tid := range tids {
		if b := readSmall(dir+tid+"/stat", buf[:]); b != nil {
			// The state follows the command name's closing parenthesis.
			if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
				switch b[i+2] {
				case 'R':
					runnable = true
				case 'D':
					inKernel = true
				}
			}
		}
		if b := readSmall(dir+tid+"/schedstat", buf[:]); b != nil {
			fields := bytes.Fields(b)
			if len(fields) >= 2 {
				r, _ := strconv.ParseInt(string(fields[0]), 10, 64)
				w, _ := strconv.ParseInt(string(fields[1]), 10, 64)
				run += r
				wait += w
			}
		}
	}
	return runnable, inKernel, run, wait
}

func readSmall(path string, buf []byte) []byte {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	n, err := unix.Read(fd, buf)
	if err != nil || n <= 0 {
		return nil
	}
	return buf[:n]
}

// processCPU returns the CPU time of the whole process pid, exactly (the
// kernel brings a running thread's time up to date for the read), through
// its process CPU clock; 0 when it cannot be read.
func processCPU(pid int) int64 {
	clock := int32((^pid)<<3 | 2) // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

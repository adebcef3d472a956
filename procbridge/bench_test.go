//go:build linux

package procbridge_test

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

// The benchmarks measure latencies across processes by subtracting
// CLOCK_MONOTONIC timestamps (internal/mono.Now in both processes; an
// event's time.Time back to nanoseconds with mono.Of; a worker's stamp
// through internal/hooks.Mark). Each latency benchmark collects every
// sample and reports percentiles; ns/op means nothing here. Each compares
// the bridge with the raw floor (and the old way) as sub-benchmarks of one
// run, because the machines are noisy: ratios hold, absolute times drift.
//
//	go test -run '^$' -bench . -benchtime 1000x ./procbridge/
//
// PB_BENCH_IDLE=2s shortens BenchmarkIdleCPU's idle window (default 10s).

// benchPause is how long a dying program waits before it marks and dies,
// so that whoever watches it is parked when death comes.
const benchPause = 2 * time.Millisecond

func init() {
	// bench-die waits benchPause after Ready, marks, and SIGKILLs itself.
	worker.Register("bench-die", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		time.Sleep(benchPause)
		hooks.Mark(mono.Now())
		return testproc.DieBy(syscall.SIGKILL)
	})
}

// BenchmarkDeathDetection: a program marks CLOCK_MONOTONIC and SIGKILLs
// itself; the latency runs from the mark to the moment the supervisor knows.
//
//   - floor-exec-wait: the test binary in its PB_BENCH_DIE mode (no SDK)
//     under os/exec, to the return of a bare Cmd.Wait (a blocking waitid).
//   - floor-exec-wait-buffer: the same with Stdout to a bytes.Buffer.
//   - poll-2ms: the old design: sleep 2ms, waitid(WNOHANG), until dead.
//   - bridge-pidfd-nosdk: the same program under procbridge.Start, its
//     stamp read from Lines: the apples-to-apples row against the floor.
//   - bridge-pidfd, bridge-sentinel: an SDK worker (bench-die) under both
//     death signals.
//   - interleaved: the floor, bridge-pidfd-nosdk and bridge-pidfd in turn,
//     one death each per iteration in rotation, so that the three share
//     the machine's state and their ratios can be read from one run.
//
// For the bridge, p50-us/p99-us are to Exit.Time (when the bridge saw the
// death) and delivered-* to the receipt of Exited on Events(); dying-* is
// to the Dying event, when the worker arms the early notice.
func BenchmarkDeathDetection(b *testing.B) {
	exe := executable(b)
	dieEnv := append(os.Environ(), "PB_BENCH_DIE="+benchPause.String())
	nosdk := procbridge.Spec{Path: exe, Env: dieEnv, Stdout: procbridge.Lines}
	b.Run("floor-exec-wait", func(b *testing.B) {
		var lat latencies
		for b.Loop() {
			lat = append(lat, floorDeath(b, exe, dieEnv))
		}
		lat.report(b, "")
	})
	b.Run("floor-exec-wait-buffer", func(b *testing.B) {
		// Stdout to a buffer: os/exec copies it on a goroutine while the
		// program runs, as the bridge's Lines reader does.
		var lat latencies
		for b.Loop() {
			var out bytes.Buffer
			cmd := exec.Command(exe)
			cmd.Env = dieEnv
			cmd.Stdout = &out
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			err := cmd.Wait()
			now := mono.Now()
			checkKilled(b, err)
			mark, perr := strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64)
			if perr != nil {
				b.Fatalf("no timestamp from the dying program: %q", out.String())
			}
			lat = append(lat, now-mark)
		}
		lat.report(b, "")
	})
	b.Run("poll-2ms", func(b *testing.B) {
		var lat latencies
		for b.Loop() {
			cmd, stamp := startDie(b, exe, dieEnv)
			var now int64
			for {
				time.Sleep(2 * time.Millisecond) // the old design's polling period
				var info unix.Siginfo
				// WNOWAIT: look without reaping; cmd.Wait reaps below.
				err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
				if err != nil {
					cmd.Process.Kill()
					cmd.Wait()
					b.Fatalf("waitid: %v", err)
				}
				if info.Signo != 0 { // zero while nothing is waitable
					now = mono.Now()
					break
				}
			}
			err := cmd.Wait()
			mark := readStamp(b, stamp)
			checkKilled(b, err)
			lat = append(lat, now-mark)
		}
		lat.report(b, "")
	})
	b.Run("bridge-pidfd-nosdk", func(b *testing.B) {
		var d bridgeDeaths
		for b.Loop() {
			d.add(b, nosdk, procbridge.WatchPidfd, lineMark)
		}
		d.report(b, "")
	})
	for _, mode := range []procbridge.WatchMode{procbridge.WatchPidfd, procbridge.WatchSentinel} {
		b.Run("bridge-"+mode.String(), func(b *testing.B) {
			var d bridgeDeaths
			for b.Loop() {
				d.add(b, procbridge.Spec{Worker: "bench-die"}, mode, procbridge.MarkOf)
			}
			d.report(b, "")
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		// The floor, the same program under the bridge, and an SDK
		// worker, in turn: the machine's drift from minute to minute
		// moves all three alike, so their ratio holds in any one run.
		var floor latencies
		var bare, sdk bridgeDeaths
		i := 0
		for b.Loop() {
			switch i % 3 {
			case 0:
				floor = append(floor, floorDeath(b, exe, dieEnv))
			case 1:
				bare.add(b, nosdk, procbridge.WatchPidfd, lineMark)
			case 2:
				sdk.add(b, procbridge.Spec{Worker: "bench-die"}, procbridge.WatchAuto, procbridge.MarkOf)
			}
			i++
		}
		floor.report(b, "floor-")
		bare.seen.report(b, "nosdk-")
		sdk.seen.report(b, "sdk-")
		sdk.dying.report(b, "sdk-dying-")
		if len(floor) > 0 && len(bare.seen) > 0 {
			f, n := floor.percentile(0.5), bare.seen.percentile(0.5)
			b.ReportMetric(100*float64(n-f)/float64(f), "nosdk-p50-over-floor-%")
		}
	})
}

// floorDeath runs the dying program under os/exec and returns the latency
// from its mark to the return of a bare Cmd.Wait.
func floorDeath(b *testing.B, exe string, env []string) int64 {
	cmd, stamp := startDie(b, exe, env)
	err := cmd.Wait()
	now := mono.Now()
	mark := readStamp(b, stamp)
	checkKilled(b, err)
	return now - mark
}

// lineMark reads the dying program's stamp from its output lines.
func lineMark(p *procbridge.Process) int64 {
	for l := range p.Lines() { // closed once the output is drained
		if n, err := strconv.ParseInt(strings.TrimSpace(l.Text), 10, 64); err == nil {
			return n
		}
	}
	return 0
}

// bridgeDeaths collects, for deaths under the bridge, the latencies from
// the mark to Exit.Time (seen), to the receipt of Exited (delivered) and
// to the Dying event (dying).
type bridgeDeaths struct{ seen, delivered, dying latencies }

func (d *bridgeDeaths) add(b *testing.B, spec procbridge.Spec, mode procbridge.WatchMode, mark func(*procbridge.Process) int64) {
	p := benchStart(b, spec, mode)
	dyingMono, ex, recv := awaitDeath(b, p)
	m := mark(p)
	if m == 0 || ex.Exit.Kind != procbridge.ExitSignal || ex.Exit.Signal != syscall.SIGKILL {
		b.Fatalf("want a SIGKILL death with a mark, got %v (mark %d)", ex.Exit, m)
	}
	d.seen = append(d.seen, mono.Of(ex.Exit.Time)-m)
	d.delivered = append(d.delivered, recv-m)
	if dyingMono != 0 {
		d.dying = append(d.dying, dyingMono-m)
	}
}

// awaitDeath reads p's events up to Exited, which it returns with the time
// it was received and the Dying event's stamp (0 without one), and waits
// until p's bridge is done.
func awaitDeath(b *testing.B, p *procbridge.Process) (dying int64, ex procbridge.Exited, recv int64) {
	for {
		e, at := benchEvent(b, p)
		switch e := e.(type) {
		case procbridge.Dying:
			dying = mono.Of(e.Time)
		case procbridge.Exited:
			<-p.Done()
			return dying, e, at
		}
	}
}

func (d *bridgeDeaths) report(b *testing.B, prefix string) {
	d.seen.report(b, prefix)
	d.delivered.report(b, prefix+"delivered-")
	d.dying.report(b, prefix+"dying-")
}

// startDie starts the test binary in its PB_BENCH_DIE mode with os/exec,
// its stdout on a pipe whose read end it returns.
func startDie(b *testing.B, exe string, env []string) (*exec.Cmd, *os.File) {
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = env
	cmd.Stdout = w // an *os.File: no copying goroutine for Wait to wait for
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		b.Fatal(err)
	}
	return cmd, r
}

func readStamp(b *testing.B, r *os.File) int64 {
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		b.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		b.Fatalf("no timestamp from the dying program: %q", out)
	}
	return n
}

func checkKilled(b *testing.B, err error) {
	ee, ok := err.(*exec.ExitError)
	if !ok {
		b.Fatalf("want death by SIGKILL, got %v", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		b.Fatalf("want death by SIGKILL, got %v", err)
	}
}

// BenchmarkHangDetection: a worker beats every 2ms (timeout 5ms) for 25
// beats, marks that it beat its last, then sleeps or spins without
// beating. The latency is how far past the timeout the Hung event comes:
// Hung.Time − (last beat + timeout), the last beat's time as the worker
// stamped it. false-alarms counts Hung events that came while the worker
// still beat (no mark yet); early-alarms those that came after its last
// beat but before the timeout had passed.
func BenchmarkHangDetection(b *testing.B) {
	hb := procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: 5 * time.Millisecond}
	for _, name := range []string{"sleep", "spin",
		// What each part of the spinning case's speed owes to: the
		// monitor's thread left at an ordinary priority, and the process
		// CPU clock instead of the exact thread counters.
		"spin-ordinary-priority", "spin-process-clock"} {
		how, variant, _ := strings.Cut(name, "-")
		b.Run(name, func(b *testing.B) {
			switch variant {
			case "ordinary-priority":
				procbridge.SetPromptThreadsForTest(false)
				defer procbridge.SetPromptThreadsForTest(true)
			case "process-clock":
				procbridge.SetThreadClocksForTest(false)
				defer procbridge.SetThreadClocksForTest(true)
			}
			// 60 beats, 120 ms: past the start grace, in which a young
			// worker is not judged.
			spec := procbridge.Spec{Worker: "beat-then-stall", Args: []string{"60", how}, Heartbeat: hb}
			var lat latencies
			falseAlarms, earlyAlarms := 0, 0
			for b.Loop() {
				p := benchStart(b, spec)
				var hung procbridge.Hung
				gotHung := false
				for !gotHung {
					e, _ := benchEvent(b, p)
					switch e := e.(type) {
					case procbridge.Hung:
						hung, gotHung = e, true
					case procbridge.Exited:
						b.Fatalf("exited without a Hung event: %v", e.Exit)
					}
				}
				mark := procbridge.MarkOf(p) // written after the last beat, before the worker stopped beating
				_, last := procbridge.Beats(p)
				p.Kill() // the bridge kills it already; make sure
				<-p.Done()
				// The timeout runs from the last beat, which the worker
				// stamped itself (a little before its mark).
				switch past := mono.Of(hung.Time) - (last + int64(hb.Timeout)); {
				case mark == 0 || mono.Of(hung.Time) < mark:
					falseAlarms++
					b.Logf("false alarm, %d us before the worker stopped beating: %v", (mark-mono.Of(hung.Time))/1000, hung.Err)
				case past < 0:
					earlyAlarms++
					lat = append(lat, past)
				default:
					lat = append(lat, past)
				}
			}
			lat.report(b, "")
			b.ReportMetric(float64(falseAlarms), "false-alarms")
			b.ReportMetric(float64(earlyAlarms), "early-alarms")
		})
	}
}

// BenchmarkSpawnToReady: from just before the fork to the worker's Ready
// (Ready.SpawnToReady), beside two floors for starting the same test
// binary with os/exec: to the CLOCK_MONOTONIC stamp it prints at the top of
// TestMain (PB_BENCH_DIE=0), and to the end of a run that does nothing
// (-test.run=^$), Start to Wait.
func BenchmarkSpawnToReady(b *testing.B) {
	exe := executable(b)
	b.Run("bridge", func(b *testing.B) {
		var lat latencies
		for b.Loop() {
			p := benchStart(b, procbridge.Spec{Worker: "wait"})
			e, _ := benchEvent(b, p)
			ready, ok := e.(procbridge.Ready)
			if !ok {
				p.Kill()
				<-p.Done()
				b.Fatalf("first event %#v, want Ready", e)
			}
			lat = append(lat, int64(ready.SpawnToReady))
			benchStop(b, p)
		}
		lat.report(b, "")
	})
	b.Run("floor-exec-to-main", func(b *testing.B) {
		env := append(os.Environ(), "PB_BENCH_DIE=0")
		var lat latencies
		for b.Loop() {
			t0 := mono.Now()
			cmd, stamp := startDie(b, exe, env)
			err := cmd.Wait()
			mark := readStamp(b, stamp)
			checkKilled(b, err)
			lat = append(lat, mark-t0)
		}
		lat.report(b, "")
	})
	b.Run("floor-exec-run-to-exit", func(b *testing.B) {
		var lat latencies
		for b.Loop() {
			cmd := exec.Command(exe, "-test.run=^$", "-test.bench=^$")
			t0 := mono.Now()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			err := cmd.Wait()
			lat = append(lat, mono.Now()-t0)
			if err != nil {
				b.Fatal(err)
			}
		}
		lat.report(b, "")
	})
}

// BenchmarkIdleCPU: this process's own CPU (user+sys, RUSAGE_SELF) while
// healthy workers idle for PB_BENCH_IDLE (default 10s), as a percentage of
// one core, and its voluntary context switches per second (wakeups). The
// window is one long measurement: it is taken once, and reported again
// when the testing package calls the function once more with -benchtime's
// count.
func BenchmarkIdleCPU(b *testing.B) {
	window := 10 * time.Second
	if s := os.Getenv("PB_BENCH_IDLE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("PB_BENCH_IDLE=%q: want a positive duration", s)
		}
		window = d
	}
	beat := func(timeout time.Duration) procbridge.Spec {
		return procbridge.Spec{Worker: "beat", Heartbeat: procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: timeout}}
	}
	cases := []struct {
		name  string
		n     int
		spec  procbridge.Spec
		floor bool
		noDog bool // the monitor keeps the deadlines on its own timer (the way before watchdogs)
	}{
		{"floor-no-workers", 0, procbridge.Spec{}, false, false},
		// The least a monitor that looks can spend at 2 ms / 5 ms: a bare
		// thread that wakes every (timeout − interval) = 3 ms and does
		// nothing else.
		{"floor-bare-wake-every-3ms", 0, procbridge.Spec{}, true, false},
		{"16-workers-no-heartbeat", 16, procbridge.Spec{Worker: "wait"}, false, false},
		{"1-worker-heartbeat-2ms-timeout-5ms", 1, beat(5 * time.Millisecond), false, false},
		{"16-workers-heartbeat-2ms-timeout-5ms", 16, beat(5 * time.Millisecond), false, false},
		{"16-workers-heartbeat-2ms-timeout-10ms", 16, beat(10 * time.Millisecond), false, false},
		{"16-workers-heartbeat-2ms-timeout-5ms-monitor-polls", 16, beat(5 * time.Millisecond), false, true},
	}
	for _, c := range cases {
		var res *idleResult
		b.Run(c.name, func(b *testing.B) {
			if res == nil {
				if c.floor {
					stop := bareWakeLoop(3 * time.Millisecond)
					defer stop()
				}
				if c.noDog {
					procbridge.SetWatchdogForTest(false)
					defer procbridge.SetWatchdogForTest(true)
				}
				res = measureIdle(b, c.n, c.spec, window)
			}
			b.ReportMetric(res.cpuPct, "cpu-%-of-one-core")
			b.ReportMetric(res.wakeups, "wakeups/s")
			b.ReportMetric(float64(res.hung), "false-alarms")
			b.ReportMetric(res.workersPct, "workers-cpu-%-of-one-core")
		})
	}
}

// bareWakeLoop starts a thread that sleeps until an absolute time every
// period and does nothing else: the floor under any hang monitor that must
// look at that rate (a futex wait on a locked thread: no hand-off between
// threads; a raw system call would be cheaper still, but it holds its P
// through the sleep and fights the runtime's preemption). stop ends it.
func bareWakeLoop(period time.Duration) (stop func()) {
	var word, quit uint32
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for atomic.LoadUint32(&quit) == 0 {
			ts := unix.NsecToTimespec(mono.Now() + int64(period))
			unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&word)), 9|128, // FUTEX_WAIT_BITSET_PRIVATE
				0, uintptr(unsafe.Pointer(&ts)), 0, 0xffffffff)
		}
	}()
	return func() { atomic.StoreUint32(&quit, 1); <-done }
}

type idleResult struct {
	cpuPct     float64 // CPU time of this process over the window, % of one core
	wakeups    float64 // voluntary context switches per second
	hung       int     // Hung events during the window
	workersPct float64 // CPU time of all the workers together, % of one core
}

// workersCPU sums the CPU time of the processes, in ns (their process CPU
// clocks: every thread, live or gone).
func workersCPU(ps []*procbridge.Process) int64 {
	var sum int64
	for _, p := range ps {
		var ts unix.Timespec
		clock := int32((^p.Pid())<<3 | 2) // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
		if unix.ClockGettime(clock, &ts) == nil {
			sum += ts.Nano()
		}
	}
	return sum
}

func measureIdle(b *testing.B, n int, spec procbridge.Spec, window time.Duration) *idleResult {
	var ps []*procbridge.Process
	defer func() {
		for _, p := range ps {
			p.Kill()
			<-p.Done()
		}
	}()
	for range n {
		p := benchStart(b, spec)
		ps = append(ps, p)
		if e, _ := benchEvent(b, p); !isReady(e) {
			b.Fatalf("first event %#v, want Ready", e)
		}
	}
	runtime.GC()                       // not during the window
	time.Sleep(100 * time.Millisecond) // let the starts' aftermath settle
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	w0 := workersCPU(ps)
	t0 := mono.Now()
	time.Sleep(window) // the idle window
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	w1 := workersCPU(ps)
	t1 := mono.Now()
	threads, _ := os.ReadDir("/proc/self/task")

	res := &idleResult{}
	for _, p := range ps {
	drain:
		for {
			select {
			case e, ok := <-p.Events():
				if !ok {
					break drain
				}
				switch e := e.(type) {
				case procbridge.Hung:
					res.hung++ // killed for it: Exited follows
					b.Logf("false alarm: %v", e.Err)
				case procbridge.Exited:
					if e.Exit.Kind != procbridge.ExitKilledHung {
						b.Fatalf("%s (pid %d) ended while idle: %v", procbridge.Name(p), p.Pid(), e.Exit)
					}
				}
			default:
				break drain
			}
		}
	}
	cpu := time.Duration(syscall.TimevalToNsec(r1.Utime) - syscall.TimevalToNsec(r0.Utime) +
		syscall.TimevalToNsec(r1.Stime) - syscall.TimevalToNsec(r0.Stime))
	secs := float64(t1-t0) / 1e9
	res.cpuPct = 100 * cpu.Seconds() / secs
	res.wakeups = float64(r1.Nvcsw-r0.Nvcsw) / secs
	res.workersPct = 100 * float64(w1-w0) / 1e9 / secs
	b.Logf("%d workers, %.1fs idle: CPU %v (%.3f%% of one core), %d voluntary + %d involuntary context switches, %d threads; workers' CPU %.3f%% of one core",
		n, secs, cpu, res.cpuPct, r1.Nvcsw-r0.Nvcsw, r1.Nivcsw-r0.Nivcsw, len(threads), res.workersPct)

	// Stop them all at once.
	var stops sync.WaitGroup
	for _, p := range ps {
		stops.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			if _, err := p.Stop(ctx); err != nil {
				b.Errorf("stop %s (pid %d): %v", procbridge.Name(p), p.Pid(), err)
				p.Kill()
			}
			<-p.Done()
		})
	}
	stops.Wait()
	ps = nil
	return res
}

func isReady(e procbridge.Event) bool {
	_, ok := e.(procbridge.Ready)
	return ok
}

// benchStart starts spec, with the death signal mode when one is given,
// failing the benchmark on an error (Start leaves no process behind when it
// fails).
func benchStart(b *testing.B, spec procbridge.Spec, mode ...procbridge.WatchMode) *procbridge.Process {
	b.Helper()
	m := procbridge.WatchAuto
	if len(mode) > 0 {
		m = mode[0]
	}
	p, err := procbridge.StartWatching(b.Context(), spec, m)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// benchEvent returns p's next event and the CLOCK_MONOTONIC time it was
// received. After the deadline it kills p, waits for it, and fails.
func benchEvent(b *testing.B, p *procbridge.Process) (procbridge.Event, int64) {
	b.Helper()
	t := time.NewTimer(deadline)
	defer t.Stop()
	select {
	case e, ok := <-p.Events():
		at := mono.Now()
		if !ok {
			b.Fatalf("%s: events closed", procbridge.Name(p))
		}
		return e, at
	case <-t.C:
		p.Kill()
		<-p.Done()
		b.Fatalf("%s: no event after %v", procbridge.Name(p), deadline)
	}
	return nil, 0
}

// benchStop stops p and waits until its bridge is done.
func benchStop(b *testing.B, p *procbridge.Process) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if _, err := p.Stop(ctx); err != nil {
		p.Kill()
		<-p.Done()
		b.Fatalf("stop %s: %v", procbridge.Name(p), err)
	}
	<-p.Done()
}

func executable(b *testing.B) string {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	return exe
}

// latencies are samples in nanoseconds.
type latencies []int64

// report reports the 50th and 99th percentiles (nearest rank) in
// microseconds, as prefix+"p50-us" and prefix+"p99-us". No samples, no
// metrics.
func (l latencies) report(b *testing.B, prefix string) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l.percentile(0.50))/1e3, prefix+"p50-us")
	b.ReportMetric(float64(l.percentile(0.99))/1e3, prefix+"p99-us")
}

func (l latencies) percentile(q float64) int64 {
	i := int(math.Ceil(q*float64(len(l)))) - 1
	return l[max(0, min(i, len(l)-1))]
}

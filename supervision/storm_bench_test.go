//go:build linux

package supervision_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
	"github.com/understudy/understudy/supervision/supervisiontest"
)

// stormBeat: workers beat every 100 ms and are hung after 1 s of silence,
// cheap enough that hundreds of them leave the machine room to restart.
var stormBeat = procbridge.Heartbeat{Interval: 100 * time.Millisecond, Timeout: time.Second}

// BenchmarkStorm: n "beat" workers under one one_for_one supervisor,
// SIGKILLed together twice per iteration:
//
//   - storm 1: first failures, each restarted at once (storm1-*);
//   - storm 2, as soon as all are back: second failures, each restarted
//     after its 100 ms backoff (storm2-*).
//
// Reported for each: the time from the SIGKILL to the last worker ready
// again (*-all-ns, the target "256 back and ready in 500 ms"), p50 and
// p99 over every worker (*-p50-ns, *-p99-ns), and the floor of this
// machine (*-floor-ns): the CPU the storm cost (the new workers' own CPU
// up to Ready, and this process's) spread over the CPUs, below which no
// supervisor can bring them back. In the same iteration, n workers started
// with procbridge alone are SIGKILLed together and each started again as
// soon as its Exited is read, all at once (bare-*): the floor on a machine
// shared with other work. Also the tree's start (start-ns, in start
// order, each ready before the next, as OTP's) and the machine's CPU
// pressure (psi-some-%).
//
// Time is a fake clock moved on by real time, and jumped past the
// backoff's ResetAfter before each storm 1.
//
//	go test -run '^$' -bench 'Storm/256' -benchtime 2x -timeout 30m ./supervision/
func BenchmarkStorm(b *testing.B) {
	for _, n := range []int{64, 256} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchStorm(b, n) })
	}
}

func benchStorm(b *testing.B, n int) {
	ctx := context.Background()
	clock := supervisiontest.NewFakeClock(time.Unix(1_000_000, 0))
	stopClock := runClock(clock)
	defer stopClock()
	spec := supervision.Spec{Intensity: supervision.Intensity{MaxRestarts: 1 << 30, Period: time.Second}}
	for i := range n {
		spec.Children = append(spec.Children, supervision.ChildSpec{
			Name:    fmt.Sprintf("w%04d", i),
			Process: &procbridge.Spec{Worker: "beat", Heartbeat: stormBeat, ReadyTimeout: time.Minute},
			Backoff: supervision.Backoff{Initial: 100 * time.Millisecond, ResetAfter: time.Minute},
		})
	}
	f := newFleet()
	began := time.Now()
	tree, err := supervision.Start(ctx, spec, supervision.Options{OnEvent: f.on, Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	started := time.Since(began)
	defer func() {
		if _, err := tree.Stop(ctx); err != nil {
			b.Error(err)
		}
	}()
	f.drain()
	bare := make([]*procbridge.Process, n)
	for i := range bare {
		if bare[i], err = bareStart(ctx); err != nil {
			b.Fatal(err)
		}
	}
	defer func() {
		for _, p := range bare {
			_, _ = p.Stop(ctx)
		}
	}()
	var s1, s2, s0 stormStats
	psi0, at0 := cpuPressureTotal(), time.Now()
	for b.Loop() {
		clock.Advance(2 * time.Minute) // every worker up for longer than ResetAfter
		s1.add(f.storm(b, tree.Supervisor(), n))
		s2.add(f.storm(b, tree.Supervisor(), n))
		s0.add(bareStorm(b, bare))
	}
	psi := 100 * float64(cpuPressureTotal()-psi0) / float64(time.Since(at0))
	b.ReportMetric(float64(started), "start-ns")
	s1.report(b, "storm1")
	s2.report(b, "storm2")
	s0.report(b, "bare")
	b.ReportMetric(psi, "psi-some-%")
}

// BenchmarkPool: n "beat" workers started under one simple_one_for_one
// supervisor by requests made together (64 at a time), then the
// supervisor's process left idle, then single workers killed one at a
// time, each once (backoff off).
//
// Reported: the start of all n (start-ns, the target "1,000 started in
// 2 s") beside its floor (start-floor-ns, as BenchmarkStorm's), and the
// CPU of a start, the worker's up to Ready and this process's, each a
// mean over the n (start-worker-cpu-ns, start-self-cpu-ns); this
// process's CPU while the n workers beat (idle-cpu-%, of one core: the
// target "under 0.1%"); the time from a SIGKILL to the worker ready
// again (restart-p50-ns, restart-p99-ns: the target compares p99 at 1,000
// with p99 at 10), and on the way its ChildExited (restart-exited-*: the
// death seen, the worker reaped and its cgroup emptied) and its next
// ChildStarted (restart-started-*: forked again; the rest is the new
// worker's way to Ready), and that way alone (restart-spawn-*: from just
// before the fork to the Ready seen, Ready.SpawnToReady); and the
// machine's CPU pressure over the run.
//
//	go test -run '^$' -bench 'Pool' -benchtime 100x -timeout 30m ./supervision/
func BenchmarkPool(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			benchPool(b, n, procbridge.Spec{Worker: "beat", Heartbeat: stormBeat, ReadyTimeout: time.Minute})
		})
	}
}

func benchPool(b *testing.B, n int, worker procbridge.Spec) {
	ctx := context.Background()
	spec := supervision.Spec{
		Strategy:  supervision.SimpleOneForOne,
		Intensity: supervision.Intensity{MaxRestarts: 1 << 30, Period: time.Second},
		Children: []supervision.ChildSpec{{
			Name:    "w",
			Process: &worker,
			Backoff: supervision.Backoff{Initial: -1},
		}},
	}
	f := newFleet()
	tree, err := supervision.Start(ctx, spec, supervision.Options{OnEvent: f.on})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if _, err := tree.Stop(ctx); err != nil {
			b.Error(err)
		}
	}()
	root := tree.Supervisor()
	psi0, at0 := cpuPressureTotal(), time.Now()

	cpu0, began := selfCPU(), time.Now()
	var cost stormStats
	work := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 64 {
		wg.Go(func() {
			for range work {
				if _, err := root.StartSimpleChild(ctx); err != nil {
					mu.Lock()
					b.Error(err)
					mu.Unlock()
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { // read each worker's CPU as it is ready
		for range n {
			r := <-f.ready
			cost.workerCPU += workerCPU(r.ev.Ready.Pid)
		}
		close(done)
	}()
	for range n {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	<-done
	took := time.Since(began)
	cost.selfCPU += selfCPU() - cpu0

	// Idle: n workers beating, nothing else to do.
	const idle = 10 * time.Second
	cpu0 = selfCPU()
	<-time.After(idle)
	idleCPU := 100 * float64(selfCPU()-cpu0) / float64(idle)

	cs, err := root.Children(ctx)
	if err != nil {
		b.Fatal(err)
	}
	f.drain()
	var lat, exits, starts, spawns []time.Duration
	i := 0
	for b.Loop() {
		c := cs[i%len(cs)]
		if i >= len(cs) {
			// Killed before: look its pid up again.
			if c, err = childOf(ctx, root, c.Name); err != nil {
				b.Fatal(err)
			}
		}
		i++
		at := time.Now()
		if err := syscall.Kill(c.Pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		for {
			r := <-f.ready
			if r.ev.Child == c.Name && r.ev.Incarnation > c.Incarnation {
				lat = append(lat, r.at.Sub(at))
				exited, started := f.since(c.Name, at)
				exits, starts = append(exits, exited), append(starts, started)
				spawns = append(spawns, r.ev.Ready.SpawnToReady)
				break
			}
		}
	}
	slices.Sort(lat)
	slices.Sort(exits)
	slices.Sort(starts)
	slices.Sort(spawns)
	b.ReportMetric(float64(took), "start-ns")
	b.ReportMetric(float64(cost.floor()), "start-floor-ns")
	b.ReportMetric(float64(cost.workerCPU/time.Duration(n)), "start-worker-cpu-ns")
	b.ReportMetric(float64(cost.selfCPU/time.Duration(n)), "start-self-cpu-ns")
	b.ReportMetric(idleCPU, "idle-cpu-%")
	b.ReportMetric(float64(pct(lat, 50)), "restart-p50-ns")
	b.ReportMetric(float64(pct(lat, 99)), "restart-p99-ns")
	b.ReportMetric(float64(pct(exits, 50)), "restart-exited-p50-ns")
	b.ReportMetric(float64(pct(exits, 99)), "restart-exited-p99-ns")
	b.ReportMetric(float64(pct(starts, 50)), "restart-started-p50-ns")
	b.ReportMetric(float64(pct(starts, 99)), "restart-started-p99-ns")
	b.ReportMetric(float64(pct(spawns, 50)), "restart-spawn-p50-ns")
	b.ReportMetric(float64(pct(spawns, 99)), "restart-spawn-p99-ns")
	b.ReportMetric(100*float64(cpuPressureTotal()-psi0)/float64(time.Since(at0)), "psi-some-%")
}

// fleet receives the ChildReady events of a tree's workers, and notes when
// each child last exited and was last started.
type fleet struct {
	ready chan readyAt

	mu              sync.Mutex
	exited, started map[string]time.Time
}

type readyAt struct {
	at time.Time
	ev supervision.ChildReady
}

func newFleet() *fleet {
	return &fleet{ready: make(chan readyAt, 1<<14), exited: map[string]time.Time{}, started: map[string]time.Time{}}
}

func (f *fleet) on(ev supervision.Event) {
	switch e := ev.(type) {
	case supervision.ChildReady:
		if e.Ready != nil {
			f.ready <- readyAt{time.Now(), e}
		}
	case supervision.ChildExited:
		f.note(f.exited, e.Child)
	case supervision.ChildStarted:
		f.note(f.started, e.Child)
	}
}

func (f *fleet) note(m map[string]time.Time, child string) {
	at := time.Now()
	f.mu.Lock()
	m[child] = at
	f.mu.Unlock()
}

// since returns how long after at child last exited and was last started
// (0 for one not seen since at).
func (f *fleet) since(child string, at time.Time) (exited, started time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return max(f.exited[child].Sub(at), 0), max(f.started[child].Sub(at), 0)
}

func (f *fleet) drain() {
	for {
		select {
		case <-f.ready:
		default:
			return
		}
	}
}

// storm SIGKILLs the n children of s together and waits until each is
// ready again; it returns each one's time from the kill to ready, and
// what the storm cost in CPU.
func (f *fleet) storm(b *testing.B, s *supervision.Supervisor, n int) stormStats {
	cs, err := s.Children(context.Background())
	if err != nil || len(cs) != n {
		b.Fatalf("children: %d, %v", len(cs), err)
	}
	f.drain()
	was := map[string]int{}
	cpu0 := selfCPU()
	at := time.Now()
	for _, c := range cs {
		if err := syscall.Kill(c.Pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		was[c.Name] = c.Incarnation
	}
	st := stormStats{}
	for len(was) > 0 {
		var r readyAt
		select {
		case r = <-f.ready:
		case <-time.After(2 * time.Minute):
			b.Fatalf("%d workers not back after 2 minutes", len(was))
		}
		inc, ok := was[r.ev.Child]
		if !ok || r.ev.Incarnation <= inc {
			continue
		}
		delete(was, r.ev.Child)
		st.lat = append(st.lat, r.at.Sub(at))
		st.workerCPU += workerCPU(r.ev.Ready.Pid)
	}
	st.all = append(st.all, time.Since(at))
	st.selfCPU = selfCPU() - cpu0
	return st
}

// bareStart starts a storm's worker with procbridge alone and waits until
// it is ready.
func bareStart(ctx context.Context) (*procbridge.Process, error) {
	p, err := procbridge.Start(ctx, procbridge.Spec{Worker: "beat", Heartbeat: stormBeat, ReadyTimeout: time.Minute})
	if err != nil {
		return nil, err
	}
	for ev := range p.Events() {
		switch e := ev.(type) {
		case procbridge.Ready:
			return p, nil
		case procbridge.Exited:
			return nil, e.Err
		}
	}
	return nil, fmt.Errorf("pid %d: no Ready", p.Pid())
}

// bareStorm SIGKILLs ps together and starts each again as soon as its
// Exited is read, all at once, replacing ps's processes.
func bareStorm(b *testing.B, ps []*procbridge.Process) stormStats {
	ctx := context.Background()
	cpu0 := selfCPU()
	at := time.Now()
	for _, p := range ps {
		if err := syscall.Kill(p.Pid(), syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
	}
	st := stormStats{lat: make([]time.Duration, len(ps))}
	cpu := make([]time.Duration, len(ps))
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			for ev := range p.Events() {
				if _, ok := ev.(procbridge.Exited); ok {
					break
				}
			}
			if ps[i], errs[i] = bareStart(ctx); errs[i] == nil {
				st.lat[i] = time.Since(at)
				cpu[i] = workerCPU(ps[i].Pid())
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
		st.workerCPU += cpu[i]
	}
	st.all = append(st.all, time.Since(at))
	st.selfCPU = selfCPU() - cpu0
	return st
}

// stormStats gathers storms: each worker's time back, each storm's
// total, and the CPU they cost.
type stormStats struct {
	lat, all           []time.Duration
	workerCPU, selfCPU time.Duration
}

func (s *stormStats) add(o stormStats) {
	s.lat = append(s.lat, o.lat...)
	s.all = append(s.all, o.all...)
	s.workerCPU += o.workerCPU
	s.selfCPU += o.selfCPU
}

// floor is the CPU spent, spread over the machine's CPUs: the least wall
// time it could have taken.
func (s *stormStats) floor() time.Duration {
	return (s.workerCPU + s.selfCPU) / time.Duration(runtime.NumCPU())
}

func (s *stormStats) report(b *testing.B, name string) {
	slices.Sort(s.lat)
	slices.Sort(s.all)
	b.ReportMetric(float64(pct(s.all, 50)), name+"-all-ns")
	b.ReportMetric(float64(pct(s.lat, 50)), name+"-p50-ns")
	b.ReportMetric(float64(pct(s.lat, 99)), name+"-p99-ns")
	b.ReportMetric(float64(s.floor()/time.Duration(max(len(s.all), 1))), name+"-floor-ns")
}

// pct is the q-th percentile of sorted ds.
func pct(ds []time.Duration, q int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)*q/100, len(ds)-1)]
}

// runClock moves clock on by real time until the returned stop is called.
func runClock(clock *supervisiontest.FakeClock) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				clock.Advance(now.Sub(last))
				last = now
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// selfCPU is this process's CPU time so far, user and system, less what
// the benchmark itself spent reading workers' CPU from /proc (workerCPU):
// the supervisor's, not the measurement's.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) - time.Duration(readingCPU.Load())
}

// readingCPU is the CPU time (ns) workerCPU has spent, left out of selfCPU.
var readingCPU atomic.Int64

// workerCPU is the CPU time the process pid has spent so far, all its
// threads (0 if it is gone).
func workerCPU(pid int) time.Duration {
	run, _ := workerSched(pid)
	return run
}

// workerSched is the CPU time the process pid has spent so far, all its
// threads, and their time waiting for a CPU (zero if it is gone). The CPU
// the reading costs is left out of selfCPU.
func workerSched(pid int) (run, wait time.Duration) {
	runtime.LockOSThread() // the thread's CPU clock is this call's alone
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	defer func() { readingCPU.Add(int64(threadCPU() - t0)) }()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		f := bytes.Fields(b)
		if len(f) < 2 {
			continue
		}
		r, _ := strconv.ParseInt(string(f[0]), 10, 64)
		w, _ := strconv.ParseInt(string(f[1]), 10, 64)
		run += time.Duration(r)
		wait += time.Duration(w)
	}
	return run, wait
}

// threadCPU is the calling thread's CPU time so far.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// cpuPressureTotal reads the machine's CPU pressure, "some" total (ns
// since boot; 0 where the kernel keeps none).
func cpuPressureTotal() int64 {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	_, total, ok := bytes.Cut(line, []byte(" total="))
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(string(bytes.TrimSpace(total)), 10, 64)
	return n * 1000
}

// BenchmarkOverload: n "beat" workers at 10 ms / 100 ms under one
// one_for_one supervisor: at 512 on two CPUs, more than the machine can
// carry (each beat costs about 1 % of a core). They are started in order,
// each ready before the next, left to beat for 10 s, and the tree is
// stopped, in reverse order, each child gone before the next is asked.
// Reported: the start (start-ns) and a start's spawn to ready
// (ready-p50-ns, ready-p99-ns); the hung verdicts on these healthy workers
// from the start to the end of the stop (hung; of the kind "held up",
// hung-heldup: killed for being starved), each a restart that adds to the
// load that starved it, and the restarts; the stop of the whole tree
// (stop-ns; the target "under 5 s"); this process's CPU over the start,
// the 10 s and the stop (self-cpu-%, of one core) and the machine's CPU
// pressure. The log has the start in eighths: a start's spawn to ready,
// the worker's own CPU and wait for a CPU up to Ready (schedstat), and
// the supervisor's part between one ready and the next spawn. Run it
// once: it saturates the machine for minutes.
//
//	go test -run '^$' -bench 'Overload/512$' -benchtime 1x -timeout 30m ./supervision/
func BenchmarkOverload(b *testing.B) {
	for _, n := range []int{64, 512} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchOverload(b, n) })
	}
}

// overloadStart is one worker's start, as its ChildReady saw it.
type overloadStart struct {
	at        time.Time     // ChildReady
	toReady   time.Duration // its spawn to ready
	run, wait time.Duration // its CPU, and its wait for a CPU, up to Ready
}

func benchOverload(b *testing.B, n int) {
	ctx := context.Background()
	hb := procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 100 * time.Millisecond}
	spec := supervision.Spec{Intensity: supervision.Intensity{MaxRestarts: 1 << 30, Period: time.Second}}
	for i := range n {
		spec.Children = append(spec.Children, supervision.ChildSpec{
			Name:    fmt.Sprintf("w%04d", i),
			Process: &procbridge.Spec{Worker: "beat", Heartbeat: hb, ReadyTimeout: time.Minute},
			Backoff: supervision.Backoff{Initial: -1},
		})
	}
	var hung, restarts atomic.Int64
	var mu sync.Mutex
	kinds := map[string]int{}
	var took, stops []time.Duration // each child's stop, from SIGTERM to gone: sorted, in order
	var ends [][2]time.Duration     // each child's stop, in order: to its end (its pidfd), and from there to gone
	var starts []overloadStart
	on := func(ev supervision.Event) {
		switch e := ev.(type) {
		case supervision.ChildReady:
			if e.Ready != nil && e.Incarnation == 1 {
				run, wait := workerSched(e.Ready.Pid)
				mu.Lock()
				starts = append(starts, overloadStart{time.Now(), e.Ready.SpawnToReady, run, wait})
				mu.Unlock()
			}
		case supervision.ChildProcess:
			if h, ok := e.Event.(procbridge.Hung); ok {
				hung.Add(1)
				mu.Lock()
				kinds[h.Err.Kind]++
				mu.Unlock()
			}
		case supervision.ChildRestarting:
			restarts.Add(1)
		case supervision.ChildStopped:
			mu.Lock()
			took = append(took, e.Took)
			stops = append(stops, e.Took)
			if e.Exit != nil {
				now := time.Now()
				worker := e.Exit.Time.Sub(now.Add(-e.Took))
				ends = append(ends, [2]time.Duration{worker, e.Took - worker})
			}
			mu.Unlock()
		}
	}
	psi0, at0 := cpuPressureTotal(), time.Now()
	var self time.Duration
	for b.Loop() {
		cpu0, began := selfCPU(), time.Now()
		tree, err := supervision.Start(ctx, spec, supervision.Options{OnEvent: on})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(began)), "start-ns")
		mu.Lock()
		logStarts(b, began, starts)
		mu.Unlock()
		<-time.After(10 * time.Second)
		stopping := time.Now()
		if _, err := tree.Stop(ctx); err != nil {
			b.Error(err)
		}
		b.ReportMetric(float64(time.Since(stopping)), "stop-ns")
		self += selfCPU() - cpu0
	}
	elapsed := time.Since(at0)
	mu.Lock()
	defer mu.Unlock()
	b.ReportMetric(float64(hung.Load()), "hung")
	b.ReportMetric(float64(kinds["held up"]), "hung-heldup")
	b.ReportMetric(float64(restarts.Load()), "restarts")
	b.ReportMetric(100*float64(self)/float64(elapsed), "self-cpu-%")
	b.ReportMetric(100*float64(cpuPressureTotal()-psi0)/float64(elapsed), "psi-some-%")
	toReady := make([]time.Duration, len(starts))
	for i, s := range starts {
		toReady[i] = s.toReady
	}
	slices.Sort(toReady)
	b.ReportMetric(float64(pct(toReady, 50)), "ready-p50-ns")
	b.ReportMetric(float64(pct(toReady, 99)), "ready-p99-ns")
	slices.Sort(took)
	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	b.ReportMetric(float64(pct(took, 50)), "stop1-p50-ns")
	b.ReportMetric(float64(sum), "stop1-sum-ns")
	b.Logf("hung verdicts by kind: %v; child stops p50 %v p90 %v max %v", kinds, pct(took, 50), pct(took, 90), pct(took, 100))
	var eighths []string
	for k := range 8 {
		part := slices.Clone(stops[k*len(stops)/8 : (k+1)*len(stops)/8])
		slices.Sort(part)
		var w, r time.Duration
		for _, e := range ends[k*len(ends)/8 : (k+1)*len(ends)/8] {
			w += e[0]
			r += e[1]
		}
		m := time.Duration(max(len(part), 1))
		eighths = append(eighths, fmt.Sprintf("%v / %v (%v + %v)", pct(part, 50).Round(time.Millisecond), pct(part, 100).Round(time.Millisecond),
			(w/m).Round(time.Millisecond), (r/m).Round(time.Millisecond)))
	}
	order := make([]int, len(ends))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int { return cmp.Compare(ends[j][0]+ends[j][1], ends[i][0]+ends[i][1]) })
	var slowest []string
	for _, i := range order[:min(len(order), 5)] {
		slowest = append(slowest, fmt.Sprintf("#%d %v + %v", i, ends[i][0].Round(time.Millisecond), ends[i][1].Round(time.Millisecond)))
	}
	// One line: a benchmark's log is cut after ten.
	b.Logf("child stops in eighths, in stop order, p50 / max (mean: to the worker's end + the supervisor's part): %s; the slowest (#n in stop order): %s",
		strings.Join(eighths, ", "), strings.Join(slowest, ", "))
}

// logStarts logs the start of a tree begun at began in eighths: for each,
// when its last worker was ready, and the mean of a start's spawn to ready,
// of the worker's CPU and wait for a CPU up to Ready, and of the time from
// one worker's ready to the next one's spawn (the supervisor's part).
func logStarts(b *testing.B, began time.Time, starts []overloadStart) {
	n := len(starts)
	prev := began
	for k := range 8 {
		part := starts[k*n/8 : (k+1)*n/8]
		if len(part) == 0 {
			continue
		}
		var toReady, run, wait, gap time.Duration
		for _, s := range part {
			toReady += s.toReady
			run += s.run
			wait += s.wait
			gap += max(s.at.Sub(prev)-s.toReady, 0)
			prev = s.at
		}
		m := time.Duration(len(part))
		b.Logf("start %d-%d: at %v; a start %v (worker CPU %v, waited %v), between %v",
			k*n/8, (k+1)*n/8, part[len(part)-1].at.Sub(began).Round(time.Millisecond),
			(toReady / m).Round(time.Microsecond), (run / m).Round(time.Microsecond),
			(wait / m).Round(time.Microsecond), (gap / m).Round(time.Microsecond))
	}
}

//go:build linux

package procbridge_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
)

var fastBeat = procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: 20 * time.Millisecond}

func TestHang(t *testing.T) {
	for _, c := range []struct{ name, how string }{
		{"sleep", "sleep"}, {"spin", "spin"},
		// The monitor keeps the deadline itself, as for a worker that
		// does not re-arm its watchdog.
		{"sleep-no-watchdog", "sleep"}, {"spin-no-watchdog", "spin"},
		// No exact thread counters (perf events): the process CPU clock.
		{"sleep-process-clock", "sleep"}, {"spin-process-clock", "spin"},
	} {
		how := c.how
		t.Run(c.name, func(t *testing.T) {
			if strings.HasSuffix(c.name, "-no-watchdog") {
				procbridge.SetWatchdogForTest(false)
				defer procbridge.SetWatchdogForTest(true)
			}
			if strings.HasSuffix(c.name, "-process-clock") {
				procbridge.SetThreadClocksForTest(false)
				defer procbridge.SetThreadClocksForTest(true)
			}
			p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "beat-then-stall", Args: []string{"20", how}, Heartbeat: fastBeat})
			require.NoError(t, err)
			nextEvent(t, p) // Ready
			hung, ok := nextEvent(t, p).(procbridge.Hung)
			require.True(t, ok, "Hung comes before Exited")
			require.NotZero(t, procbridge.MarkOf(p), "the worker marked its last beat")
			_, lastBeat := procbridge.Beats(p) // the beat the mark follows
			assert.GreaterOrEqual(t, mono.Of(hung.Time)-lastBeat, int64(fastBeat.Timeout), "not raised before the timeout")
			assert.ErrorIs(t, hung.Err, procbridge.ErrHung)
			assert.Equal(t, p.Pid(), hung.Err.Pid)
			switch {
			case hung.Err.Kind == "held up":
				// A machine that kept a spinner from its CPU, or, under
				// CPU pressure, any worker: it is granted the cap of
				// silence (ten timeouts, at least 250 ms), and is called
				// held up past it, never before.
				t.Logf("the machine held the worker up: %v", hung.Err)
				assert.GreaterOrEqual(t, hung.Err.Silence, max(10*fastBeat.Timeout, 250*time.Millisecond), "held up only past the cap")
			case how == "sleep":
				assert.Equal(t, "asleep", hung.Err.Kind, "%v", hung.Err)
			default:
				assert.Equal(t, "spinning", hung.Err.Kind, "%v", hung.Err)
			}
			e := exitedEvent(t, p)
			assert.Equal(t, procbridge.ExitKilledHung, e.Exit.Kind)
			assert.ErrorIs(t, e.Err, procbridge.ErrHung)
		})
	}
}

// TestNoFalseHangUnderLoad keeps both cores busy with other work while
// workers beat: a worker that waits for a CPU is not hung. The one Hung it
// lets pass is one held up: a machine that keeps a worker from running for
// longer than the monitor's cap of silence (50 timeouts here) gets it
// called, by design, and says so.
func TestNoFalseHangUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("saturates the machine for a few seconds")
	}
	var stop atomic.Bool
	var hogs sync.WaitGroup
	for range 2 * runtime.NumCPU() {
		hogs.Go(func() {
			for !stop.Load() {
				for i := 0; i < 1e5; i++ {
				}
			}
		})
	}
	defer func() { stop.Store(true); hogs.Wait() }()
	spec := procbridge.Spec{Worker: "beat", Heartbeat: fastBeat}
	type event struct {
		p *procbridge.Process
		e procbridge.Event
	}
	// Every event of every worker, whenever it comes, lands here: a false
	// alarm raised while the workers are being stopped is caught as well.
	events := make(chan event, 16)
	// Whatever fails, no worker outlives the test to beat on beside the
	// next one's (a test of stalls counts every worker watched), and no
	// goroutine waits on events nobody reads.
	done := make(chan struct{})
	var ps []*procbridge.Process
	for range 4 {
		p, err := procbridge.Start(ctxT(t), spec)
		require.NoError(t, err)
		t.Cleanup(func() { p.Kill(); <-p.Done() })
		nextEvent(t, p) // Ready
		ps = append(ps, p)
		go func() {
			for e := range p.Events() {
				select {
				case events <- event{p, e}:
				case <-done:
				}
			}
		}()
	}
	t.Cleanup(func() { close(done) })
	heldUp := map[*procbridge.Process]bool{}
	stopping := false
	// unexpected fails on any event but a hang held up, which it logs, and a
	// Dying once the worker is being ended.
	unexpected := func(ev event) {
		t.Helper()
		h, ok := ev.e.(procbridge.Hung)
		_, dying := ev.e.(procbridge.Dying)
		switch {
		case dying && (heldUp[ev.p] || stopping):
			// Killed (for the hang, or past Stop's grace): the death
			// notice comes before Exited.
		case ok && h.Err.Kind == "held up":
			t.Logf("%s: the machine held it up past the cap: %v (held up %v)", procbridge.Name(ev.p), h.Err, h.Err.Starved)
			heldUp[ev.p] = true
		case ok:
			t.Fatalf("%s: %v (held up %v) while merely starved", procbridge.Name(ev.p), h.Err, h.Err.Starved)
		default:
			t.Fatalf("%s: %#v", procbridge.Name(ev.p), ev.e)
		}
	}
	quiet := time.After(3 * time.Second)
	for waiting := true; waiting; {
		select {
		case ev := <-events:
			unexpected(ev)
		case <-quiet:
			waiting = false
		}
	}
	stopping = true
	for _, p := range ps {
		// A hang confirmed just before the stop is judged by its event.
		if _, err := p.Stop(ctxT(t)); !errors.Is(err, procbridge.ErrHung) {
			require.NoError(t, err)
		}
	}
	for ended := 0; ended < len(ps); {
		select {
		case ev := <-events:
			e, ok := ev.e.(procbridge.Exited)
			if !ok {
				unexpected(ev)
				continue
			}
			ended++
			if heldUp[ev.p] {
				assert.Equal(t, procbridge.ExitKilledHung, e.Exit.Kind)
			} else {
				assert.Equal(t, procbridge.ExitStopped, e.Exit.Kind)
			}
		case <-time.After(deadline):
			t.Fatal("the workers did not all end")
		}
	}
}

// startBeating starts n workers beating at fastBeat, each ready, killed
// at the test's end.
func startBeating(t *testing.T, n int) []*procbridge.Process {
	t.Helper()
	spec := procbridge.Spec{Worker: "beat", Heartbeat: fastBeat}
	var ps []*procbridge.Process
	for range n {
		p, err := procbridge.Start(ctxT(t), spec)
		require.NoError(t, err)
		t.Cleanup(func() { p.Kill(); <-p.Done() })
		nextEvent(t, p) // Ready
		ps = append(ps, p)
	}
	return ps
}

// TestMonitorSleepsWhileWorkersBeat: workers that beat re-arm their
// watchdogs, so the hang monitor does not wake to look at them. A monitor
// that kept their deadlines itself would wake at least once per
// (timeout − interval) = 18 ms, some 20 times over the 400 ms of 200 beats.
func TestMonitorSleepsWhileWorkersBeat(t *testing.T) {
	ps := startBeating(t, 4)
	// The monitor's first looks: each worker's start pokes it.
	waitBeats(t, ps, 5)
	// One quiet round of up to ten is enough: a machine that holds a
	// worker up past its watchdog's lead wakes the monitor, rightly, and a
	// noisy machine may do so in many rounds; a monitor that keeps the
	// deadlines itself wakes some 20 times in every one.
	wakes := int64(math.MaxInt64)
	for round := 0; round < 10 && wakes > 5; round++ {
		before := procbridge.MonitorWakes()
		waitBeats(t, ps, 200)
		n := procbridge.MonitorWakes() - before
		t.Logf("the monitor woke %d times while 4 workers beat 200 times each (revoked %d)", n, procbridge.RevokedForTest())
		wakes = min(wakes, n)
	}
	assert.LessOrEqual(t, wakes, int64(5), "a healthy worker's watchdog does not fire")
	assert.Zero(t, procbridge.RevokedForTest(), "a stalled worker's watchdog fires early by its re-arm gap, and is kept")
	for _, p := range ps {
		select {
		case e := <-p.Events():
			t.Fatalf("%s: %#v while beating", procbridge.Name(p), e)
		default:
		}
	}
}

// TestMonitorAuditsOnceASecond: the audit of the watchdogs, a system call
// per watchdog, comes at most once a second however often the monitor
// wakes (at every wake, hundreds of workers late at once made it hundreds
// of thousands of calls a second).
func TestMonitorAuditsOnceASecond(t *testing.T) {
	ps := startBeating(t, 4)
	waitBeats(t, ps, 5) // the monitor's first looks, which arm the watchdogs
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	wakes, audits, began := procbridge.MonitorWakes(), procbridge.MonitorAudits(), time.Now()
	for range 50 {
		woke := procbridge.MonitorWakes()
		procbridge.PokeMonitor()
		for procbridge.MonitorWakes() == woke {
			require.Less(t, time.Since(began), deadline, "the monitor did not wake when poked")
			<-tick.C
		}
	}
	wakes, audits = procbridge.MonitorWakes()-wakes, procbridge.MonitorAudits()-audits
	took := time.Since(began)
	t.Logf("%d wakes, %d audits in %v", wakes, audits, took)
	assert.GreaterOrEqual(t, wakes, int64(50))
	assert.LessOrEqual(t, audits, int64(took/time.Second)+1, "at most one audit a second")
}

// TestYoungWatchdogKept: in a worker's first moments after Ready its
// deadline is pushed back by the start grace, and the monitor arms its
// watchdog that far ahead, further than the worker's timeout. That is the
// monitor's own arm, not a worker's breaking the rules: the watchdog is
// kept. Starts made together wake the monitor while the others are young.
func TestYoungWatchdogKept(t *testing.T) {
	spec := procbridge.Spec{Worker: "beat", Heartbeat: procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: 5 * time.Millisecond}}
	ps := make([]*procbridge.Process, 16)
	var wg sync.WaitGroup
	for i := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := procbridge.Start(ctxT(t), spec)
			if assert.NoError(t, err) {
				ps[i] = p
			}
		}()
	}
	wg.Wait()
	for _, p := range ps {
		if p != nil {
			t.Cleanup(func() { p.Kill(); <-p.Done() })
		}
	}
	require.NotContains(t, ps, (*procbridge.Process)(nil))
	waitBeats(t, ps, 100) // past every worker's start grace
	assert.Zero(t, procbridge.RevokedForTest(), "a young worker's watchdog, armed by the monitor to its start grace, was revoked")
}

// waitBeats waits until every worker has beaten n more times.
func waitBeats(t *testing.T, ps []*procbridge.Process, n uint64) {
	t.Helper()
	from := make([]uint64, len(ps))
	for i, p := range ps {
		from[i], _ = procbridge.Beats(p)
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	timeout := time.After(deadline)
	for i := 0; i < len(ps); {
		if c, _ := procbridge.Beats(ps[i]); c >= from[i]+n {
			i++
			continue
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("worker %d did not beat %d times in %v", i, n, deadline)
		}
	}
}

// TestNoFalseHangInMachineStall stalls every worker at once, as a machine
// stall does (the host did not run the CPU that holds their timers): the
// cgroup freezer stops every worker with every thread asleep, nothing
// waiting for a CPU, for longer than the cap of silence, and lets them all
// go at once. None is hung. Then one worker stalled alone, while the
// others beat, is hung, asleep.
func TestNoFalseHangInMachineStall(t *testing.T) {
	if cgroup, why := procbridge.ContainmentForTest(); !cgroup {
		t.Skipf("no cgroup of its own for each worker to freeze: %s", why)
	}
	hb := procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 100 * time.Millisecond}
	type event struct {
		p *procbridge.Process
		e procbridge.Event
	}
	events := make(chan event, 16)
	var ps []*procbridge.Process
	for range 3 {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "beat", Heartbeat: hb})
		require.NoError(t, err)
		leaf := procbridge.LeafForTest(p)
		t.Cleanup(func() {
			// Whatever failed, nothing stays frozen or running for the
			// tests after this one.
			_ = os.WriteFile(filepath.Join(leaf, "cgroup.freeze"), []byte("0"), 0)
			p.Kill()
			<-p.Done()
		})
		nextEvent(t, p) // Ready
		ps = append(ps, p)
		go func() {
			for e := range p.Events() {
				events <- event{p, e}
			}
		}()
	}
	freeze := func(p *procbridge.Process, on bool) {
		t.Helper()
		v := map[bool]string{true: "1", false: "0"}[on]
		require.NoError(t, os.WriteFile(filepath.Join(procbridge.LeafForTest(p), "cgroup.freeze"), []byte(v), 0))
	}
	// The stall freezes and thaws the cgroup that holds every worker's
	// leaf, in one write each: one by one, a loaded machine may run two
	// workers thawed, beating, while the third is still frozen, which is
	// that worker stalled alone past the cap.
	domain := filepath.Dir(procbridge.LeafForTest(ps[0]))
	for _, p := range ps {
		require.Equal(t, domain, filepath.Dir(procbridge.LeafForTest(p)), "the workers' leaves share a parent")
	}
	t.Cleanup(func() { _ = os.WriteFile(filepath.Join(domain, "cgroup.freeze"), []byte("0"), 0) })
	stallAll := func(on bool) {
		t.Helper()
		v := map[bool]string{true: "1", false: "0"}[on]
		require.NoError(t, os.WriteFile(filepath.Join(domain, "cgroup.freeze"), []byte(v), 0))
	}
	// beatAgain waits for p's next beat, failing on any event meanwhile.
	beatAgain := func(p *procbridge.Process) {
		t.Helper()
		n, _ := procbridge.Beats(p)
		end := time.After(deadline)
		for {
			if m, _ := procbridge.Beats(p); m > n {
				return
			}
			select {
			case ev := <-events:
				t.Fatalf("%s: %v", procbridge.Name(ev.p), ev.e)
			case <-end:
				t.Fatalf("%s did not beat again", procbridge.Name(p))
			case <-time.After(time.Millisecond):
			}
		}
	}

	stallAll(true)
	stall := time.After(15 * hb.Timeout) // past the cap of ten timeouts
	for stalled := true; stalled; {
		select {
		case ev := <-events:
			stallAll(false)
			t.Fatalf("%s, in a stall of every worker: %v", procbridge.Name(ev.p), ev.e)
		case <-stall:
			stalled = false
		}
	}
	stallAll(false)
	for _, p := range ps {
		beatAgain(p)
	}

	// One worker stalled alone, the others beating: a hang.
	freeze(ps[0], true)
	defer os.WriteFile(filepath.Join(procbridge.LeafForTest(ps[0]), "cgroup.freeze"), []byte("0"), 0)
	var hung procbridge.Hung
	for found := false; !found; {
		select {
		case ev := <-events:
			hung, found = ev.e.(procbridge.Hung)
			require.True(t, found && ev.p == ps[0], "%s: %v", procbridge.Name(ev.p), ev.e)
		case <-time.After(deadline):
			t.Fatal("the worker stalled alone was not called hung")
		}
	}
	// Asleep at the sleeper's window; or, should the machine have held it
	// up meanwhile, a timeout after that, or at the cap of ten timeouts
	// under CPU pressure: never the held-up maximum of a stalled machine.
	assert.Contains(t, []string{"asleep", "held up"}, hung.Err.Kind, "%v", hung.Err)
	assert.Less(t, hung.Err.Silence, 5*time.Second, "%v", hung.Err)
	t.Logf("%v", hung.Err)
	for _, p := range ps[1:] {
		_, err := p.Stop(ctxT(t))
		require.NoError(t, err)
	}
}

// TestKilledWhileFrozenIsNotHung kills a worker that cannot act on its
// SIGKILL: the cgroup (v1) freezer holds it, silent, with the signal
// pending, as a loaded machine holds a killed worker that waits for a CPU
// to die on. It is dying, not hung: no Hung, and once it runs it ends by
// the signal, not as "killed-hung".
func TestKilledWhileFrozenIsNotHung(t *testing.T) {
	freezer := filepath.Join("/sys/fs/cgroup/freezer", "understudy-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(freezer, 0o755); err != nil {
		t.Skipf("no cgroup v1 freezer to hold the worker in: %v", err)
	}
	state := func(s string) error {
		return os.WriteFile(filepath.Join(freezer, "freezer.state"), []byte(s), 0)
	}
	t.Cleanup(func() {
		_ = state("THAWED")
		// The cgroup can go once its last task has left it.
		for end := time.Now().Add(deadline); os.Remove(freezer) != nil && time.Now().Before(end); {
			runtime.Gosched()
		}
	})
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "beat", Heartbeat: fastBeat})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = state("THAWED")
		p.Kill()
		<-p.Done()
	})
	require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
	require.NoError(t, os.WriteFile(filepath.Join(freezer, "cgroup.procs"), []byte(strconv.Itoa(p.Pid())), 0))
	require.NoError(t, state("FROZEN"))
	for end := time.Now().Add(deadline); ; runtime.Gosched() {
		b, err := os.ReadFile(filepath.Join(freezer, "freezer.state"))
		require.NoError(t, err)
		if strings.TrimSpace(string(b)) == "FROZEN" {
			break
		}
		require.True(t, time.Now().Before(end), "the worker did not freeze: %s", b)
	}
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGKILL))
	// Frozen, the worker stays silent with its SIGKILL pending. A verdict
	// would come within the cap of silence of a worker held up in the
	// kernel (ten timeouts, at least 250 ms); wait well past it.
	// Where the eBPF watch runs, the kill's Dying comes at once: the only
	// event allowed.
	wait := time.After(2 * time.Second)
quiet:
	for {
		select {
		case e := <-p.Events():
			if _, dying := e.(procbridge.Dying); !dying {
				t.Fatalf("a killed worker, frozen before it could die: %v", e)
			}
		case <-wait:
			break quiet
		}
	}
	require.NoError(t, state("THAWED"))
	e := exitedEvent(t, p)
	assert.Equal(t, procbridge.ExitSignal, e.Exit.Kind, "%v", e)
}

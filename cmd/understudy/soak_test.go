//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// runSoakProc runs `understudy soak --json` with args in a process of its
// own (the test binary re-executed as the command), and returns its exit
// status and report.
func runSoakProc(t *testing.T, args ...string) (int, soakReport, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"soak", "--json"}, args...)...)
	cmd.Env = append(os.Environ(), envCLI+"=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(deadline + time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the soak did not end:\n%s", errb.String())
	}
	var rep soakReport
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), "stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	return cmd.ProcessState.ExitCode(), rep, out.String() + errb.String()
}

// A quick rhythm: supervisors SIGKILLed every 3-4 s, trees of about a
// second, faults within half a second.
var quickSoak = []string{"--workers", "6", "--hog", "1", "--seed", "3",
	"--life-min", "3s", "--life-max", "4s", "--tree-min", "700ms", "--tree-max", "1200ms",
	"--fault-min", "100", "--fault-max", "500"}

func TestSoakReports(t *testing.T) {
	t.Parallel()
	status, rep, transcript := runSoakProc(t, append([]string{"--for", "7s"}, quickSoak...)...)
	assert.Equal(t, exitOK, status, transcript)
	assert.Empty(t, rep.Failures, transcript)
	assert.NotEmpty(t, rep.Containment)
	assert.EqualValues(t, 3, rep.Seed)
	assert.GreaterOrEqual(t, rep.SupKilled, 1, "the supervising process was never SIGKILLed")
	assert.Equal(t, rep.SupKilled, rep.SupClean, transcript)
	injected, survived := 0, 0
	for k, n := range rep.Injected {
		injected += n
		survived += rep.Survived[k]
	}
	assert.Positive(t, injected, transcript)
	assert.Equal(t, injected, survived, transcript)
	assert.Zero(t, rep.FalseAlarms, transcript)
	assert.Zero(t, rep.LeftBehind, transcript)
	assert.Positive(t, rep.AllGoneMaxMs, "no time to all-gone measured")
}

// A process the supervising process started outside its tree, and so
// outside its containment, is reported as left behind after the
// supervisor's SIGKILL, and fails the soak.
func TestSoakReportsLeftBehind(t *testing.T) {
	t.Parallel()
	status, rep, transcript := runSoakProc(t, append([]string{"--for", "2s", "--leave-behind"}, quickSoak...)...)
	assert.Equal(t, exitFailed, status, transcript)
	assert.GreaterOrEqual(t, rep.LeftAfterKill, 1, transcript)
	assert.Equal(t, rep.LeftAfterKill, rep.LeftBehind, transcript)
	found := false
	for _, f := range rep.Failures {
		found = found || strings.Contains(f, "left behind") && strings.Contains(f, "sleep 600")
	}
	assert.True(t, found, "no failure names the process left behind: %q", rep.Failures)
}

func TestSoakBadFlags(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"--workers 0", "--workers 0: want 1 to 1024"},
		{"--for 0s", "--for 0s: want a duration of 1s or more"},
		{"--hog -1", "--hog -1: want 0 to 64"},
		{"--for soon", `invalid value "soon" for flag -for`},
		{"--seed x", `invalid value "x" for flag -seed`},
		{"extra", `no arguments, only flags: ["extra"]`},
		{"--kinds healthy,bogus", `--kinds healthy,bogus: no kind "bogus"`},
		{"--heartbeat 5ms/2ms", "--heartbeat 5ms/2ms: want INTERVAL/TIMEOUT"},
		{"--heartbeat 5ms", "--heartbeat 5ms: want INTERVAL/TIMEOUT"},
		{"--tree-min 2s --tree-max 1s", "--tree-max 1s: want at least --tree-min"},
	} {
		t.Run(tc.args, func(t *testing.T) {
			status, _, stderr := runCLI(t, "", append([]string{"soak"}, strings.Fields(tc.args)...)...)
			assert.Equal(t, exitUsage, status)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

func TestSoakSlope(t *testing.T) {
	line := func(life, from, to int, a, b float64) []sample {
		var ss []sample
		for x := from; x <= to; x += 10 {
			ss = append(ss, sample{life: life, x: x, fd: a + b*float64(x)})
		}
		return ss
	}
	fd := func(p sample) float64 { return p.fd }
	for _, tc := range []struct {
		name string
		ss   []sample
		want *float64
	}{
		{"flat", line(1, 0, 2000, 40, 0), ptr(0)},
		{"one per 1,000", line(1, 0, 2000, 40, 0.001), ptr(1)},
		{"warm-up left out", append(line(1, 0, 190, 0, 1), line(1, 200, 2000, 500, 0)...), ptr(0)},
		{"lives with their own levels", append(line(1, 0, 1000, 40, 0.002), line(2, 0, 1000, 90, 0.002)...), ptr(2)},
		{"too few cycles", line(1, 0, 250, 40, 1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := slope(tc.ss, fd, 1, soakWarmup, false)
			if tc.want == nil {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.InDelta(t, *tc.want, *got, 0.01)
		})
	}
	// The supervising processes' samples: the first of each life and
	// those of the first half of its cycles left out.
	first := append(line(1, 0, 0, 900, 0), line(1, 100, 1000, 40, 0)...)
	got, n := slope(append(first, line(2, 50, 1000, 70, 0)...), fd, 1, 0, true)
	require.NotNil(t, got)
	assert.InDelta(t, 0, *got, 0.01)
	assert.Equal(t, 500+500, n, "cycles fitted")
}

// The growth of a supervising process's resident memory, fitted over lives
// like those of `understudy soak --for 10m`: ten of five tree ends each, 70
// cycles apart. Its warm-up must not read as growth, and a leak must, at
// the limit's scale, whatever else the samples hold.
func TestSoakGrowthLives(t *testing.T) {
	const limit = maxRSSGrowth / 1024 // MiB per 1,000 cycles
	rng := rand.New(rand.NewPCG(1, 2))
	lives := func(kib func(life, x int) float64, noise float64) []sample {
		var ss []sample
		for life := 1; life <= 10; life++ {
			for x := 70; x <= 350; x += 70 {
				ss = append(ss, sample{life: life, x: x, rss: kib(life, x) + noise*(2*rng.Float64()-1)})
			}
		}
		return ss
	}
	// A rise of 3 MiB over the first half of each life, then flat.
	warm := func(x int) float64 { return 5000 + 3072*min(float64(x)/175, 1) }
	leak := func(mib float64) func(int) float64 { return func(x int) float64 { return mib * 1.024 * float64(x) } }
	for _, tc := range []struct {
		name     string
		ss       []sample
		min, max float64 // MiB per 1,000 cycles
	}{
		{"warm-up, then flat", lives(func(_, x int) float64 { return warm(x) }, 0), -0.01, 0.01},
		{"warm-up, then flat, noisy", lives(func(_, x int) float64 { return warm(x) }, 150), -limit, limit},
		{"a leak of 2 MiB", lives(func(_, x int) float64 { return 5000 + leak(2)(x) }, 0), 1.99, 2.01},
		{"a leak of 2 MiB, noisy", lives(func(_, x int) float64 { return 5000 + leak(2)(x) }, 150), limit, 4},
		{"a leak of 1.5 MiB after the warm-up", lives(func(_, x int) float64 { return warm(x) + leak(1.5)(x) }, 0), 1.49, 1.51},
		// A tree end that caught 5 MiB more live heap, in each of
		// three lives, late in their lives.
		{"flat, with transients", lives(func(life, x int) float64 {
			if life%3 == 0 && x == 280 {
				return 10000
			}
			return 5000
		}, 50), -limit, limit},
		{"a leak of 2 MiB, with transients", lives(func(life, x int) float64 {
			if life%3 == 0 && x == 280 {
				return 10000 + leak(2)(x)
			}
			return 5000 + leak(2)(x)
		}, 50), limit, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, n := slope(tc.ss, func(p sample) float64 { return p.rss }, 1024, 0, true)
			require.NotNil(t, got, "%d cycles fitted", n)
			assert.GreaterOrEqual(t, *got, tc.min)
			assert.LessOrEqual(t, *got, tc.max)
		})
	}
}

func ptr(v float64) *float64 { return &v }

// raceEnabled is set in a build with the race detector.
var raceEnabled bool

// The soak's resident memory figure counts what the process holds: a
// live allocation, but not the pages of one the Go heap has freed and
// not yet given back, which VmRSS goes on counting for minutes.
func TestSoakOwnedRSS(t *testing.T) {
	const size = 64 << 20
	base := ownedRSS()
	withHeld := func() int64 {
		held := make([]byte, size)
		for i := 0; i < size; i += 4096 {
			held[i] = 1
		}
		defer runtime.KeepAlive(held)
		return ownedRSS()
	}()
	freed := ownedRSS()
	assert.Greater(t, withHeld-base, int64(size/1024*3/4), "a live 64 MiB: %d KiB, then %d KiB", base, withHeld)
	if raceEnabled {
		t.Skip("the race detector's shadow of a freed allocation stays resident")
	}
	assert.Less(t, freed-base, int64(size/1024/4), "64 MiB freed: %d KiB, then %d KiB", base, freed)
}

// A SIGKILLed supervising process that cannot be reaped (its threads kept
// from running to their end) must not hold the soak: the wait for it is
// bounded. A process not yet killed stands for it here.
func TestSoakReapBounded(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sleep", "30")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		io.Copy(io.Discard, out)
	}()
	done := reaper(cmd, exited)
	began := time.Now()
	assert.False(t, reapedWithin(done, 100*time.Millisecond), "a process still running was taken for reaped")
	assert.Less(t, time.Since(began), 10*time.Second, "the wait was not bounded")
	require.NoError(t, cmd.Process.Kill())
	assert.True(t, reapedWithin(done, time.Minute), "the killed process was not reaped")
}

// The checker's bookkeeping over the events of one child, as a tree
// reports them: each fault's outcome once, as expected or not.
func TestSoakCheck(t *testing.T) {
	const ms = time.Millisecond
	at := func(child string, inc int) supervision.Header {
		return supervision.Header{Supervisor: "soak", Child: child, Incarnation: inc}
	}
	hangErr := &procbridge.HangError{Name: "sigstop-0", Pid: 42, Silence: 102 * ms, Timeout: 100 * ms, Kind: "asleep"}
	hung := func(child string) supervision.Event {
		return supervision.ChildProcess{Header: at(child, 1), Event: procbridge.Hung{Pid: 42, Err: hangErr}}
	}
	killed := func(child string, err error) supervision.Event {
		return supervision.ChildExited{Header: at(child, 1), Err: err,
			Exited: &procbridge.Exited{Pid: 42, Exit: procbridge.Exit{Signal: syscall.SIGKILL}, Err: err}}
	}
	ready := func(child string, inc int) supervision.Event {
		return supervision.ChildReady{Header: at(child, inc), Ready: &procbridge.Ready{Pid: 42 + inc}}
	}
	restarting := func(child string, cause error) supervision.Event {
		return supervision.ChildRestarting{Header: at(child, 1), Cause: cause}
	}
	sigkill := errors.New("procbridge: sigkill-0 (pid 42) killed by SIGKILL")
	for _, tc := range []struct {
		name   string
		kind   string
		events []supervision.Event
		want   []soakLine
	}{
		{"sigstop: hung, killed, restarted", "sigstop",
			[]supervision.Event{ready("sigstop-0", 1), hung("sigstop-0"), killed("sigstop-0", hangErr), restarting("sigstop-0", hangErr), ready("sigstop-0", 2)},
			[]soakLine{{T: "fault", Kind: "sigstop", OK: true, Us: 102000}}},
		// Its process SIGKILLed but not reaped within its actor's bound:
		// the supervisor restarts it without reporting its exit.
		{"sigstop: hung, restarted before its exit was seen", "sigstop",
			[]supervision.Event{ready("sigstop-0", 1), hung("sigstop-0"), restarting("sigstop-0", hangErr), ready("sigstop-0", 2)},
			[]soakLine{{T: "fault", Kind: "sigstop", OK: true, Us: 102000, Unseen: true}}},
		{"sigstop: restarted, never called hung", "sigstop",
			[]supervision.Event{ready("sigstop-0", 1), restarting("sigstop-0", hangErr)},
			[]soakLine{{T: "fault", Kind: "sigstop", Why: "restarted without a fault (after: " + ready("sigstop-0", 1).String() + "): " + restarting("sigstop-0", hangErr).String()}}},
		{"sigkill: killed, restarted", "sigkill",
			[]supervision.Event{ready("sigkill-0", 1), killed("sigkill-0", sigkill), restarting("sigkill-0", sigkill)},
			[]soakLine{{T: "fault", Kind: "sigkill", OK: true}}},
		{"sigkill: restarted with no exit", "sigkill",
			[]supervision.Event{ready("sigkill-0", 1), restarting("sigkill-0", hangErr)},
			[]soakLine{{T: "fault", Kind: "sigkill", Why: "restarted without a fault (after: " + ready("sigkill-0", 1).String() + "): " + restarting("sigkill-0", hangErr).String()}}},
		{"healthy: called hung", "healthy",
			[]supervision.Event{ready("healthy-0", 1), hung("healthy-0"), restarting("healthy-0", hangErr)},
			[]soakLine{{T: "false", Kind: "healthy", Why: hung("healthy-0").String(), Hung: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			s := &soakState{out: json.NewEncoder(&out), dir: t.TempDir()}
			children := map[string]*childState{tc.kind + "-0": {kind: tc.kind}}
			for _, ev := range tc.events {
				s.check(children, ev)
			}
			var got []soakLine
			for dec := json.NewDecoder(&out); ; {
				var l soakLine
				if dec.Decode(&l) != nil {
					break
				}
				got = append(got, l)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// A tree end's sample waits for the tree's last goroutines, and no longer
// than its bound for one that does not end.
func TestSoakSettle(t *testing.T) {
	var running atomic.Int64
	running.Store(4) // three before the tree, and one of it
	count := func() int { return int(running.Load()) }
	began := time.Now()
	settle(count, 3, 200*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(began), 200*time.Millisecond, "returned while a goroutine of the tree still ran")
	time.AfterFunc(20*time.Millisecond, func() { running.Add(-1) })
	began = time.Now()
	settle(count, 3, time.Minute)
	assert.Less(t, time.Since(began), 30*time.Second, "did not return once the goroutine ended")
}

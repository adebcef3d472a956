//go:build linux

package procbridge_test

import (
	"errors"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

// startLimited starts spec, skipping the test where the host cannot limit
// what it asks.
func startLimited(t *testing.T, spec procbridge.Spec) *procbridge.Process {
	t.Helper()
	p, err := procbridge.Start(ctxT(t), spec)
	if errors.Is(err, procbridge.ErrNotSupported) {
		t.Skipf("this host cannot apply the limits: %v", err)
	}
	require.NoError(t, err)
	return p
}

// TestLimitsValidate: a limit out of range is an error naming the field and
// the value.
func TestLimitsValidate(t *testing.T) {
	for _, tt := range []struct {
		spec  procbridge.Spec
		field string
	}{
		{procbridge.Spec{Path: "sleep", MemoryMax: -1}, "MemoryMax"},
		{procbridge.Spec{Path: "sleep", MemoryMax: 4096}, "MemoryMax"},
		{procbridge.Spec{Path: "sleep", CPUMax: -0.5}, "CPUMax"},
		{procbridge.Spec{Path: "sleep", CPUMax: 0.001}, "CPUMax"},
		{procbridge.Spec{Path: "sleep", CPUMax: math.NaN()}, "CPUMax"},
		{procbridge.Spec{Path: "sleep", CPUMax: math.Inf(1)}, "CPUMax"},
		{procbridge.Spec{Path: "sleep", PidsMax: -1}, "PidsMax"},
	} {
		err := tt.spec.Validate()
		var se *procbridge.SpecError
		if assert.ErrorAs(t, err, &se, "%+v", tt.spec) {
			assert.Equal(t, tt.field, se.Field, "%v", err)
		}
	}
	ok := procbridge.Spec{Path: "sleep", MemoryMax: 1 << 20, CPUMax: 0.01, PidsMax: 1}
	assert.NoError(t, ok.Validate())
}

// TestMemoryMaxOOM: a worker that allocates past its MemoryMax is ended by
// the OOM killer, and its end says so.
func TestMemoryMaxOOM(t *testing.T) {
	p := startLimited(t, procbridge.Spec{Worker: "hog", MemoryMax: 64 << 20})
	groups := procbridge.LimitGroupsForTest(p)
	e := exitedEvent(t, p)
	assert.Equal(t, procbridge.ExitOOM, e.Exit.Kind, "%v", e)
	assert.Equal(t, syscall.SIGKILL, e.Exit.Signal)
	assert.Contains(t, e.String(), "out of memory")
	var xe *procbridge.ExitError
	if assert.ErrorAs(t, e.Err, &xe) {
		assert.Contains(t, xe.Error(), "out of memory")
	}
	<-p.Done()
	for _, g := range groups {
		_, err := os.Stat(g)
		assert.True(t, os.IsNotExist(err), "its group %s is removed", g)
	}
}

// TestPidsMaxStopsForkBomb: a shell that forks sleepers in a loop, counting
// them, gets PidsMax tasks in all (itself one of them): its next fork
// fails, and it exits. Every sleeper ends with it.
func TestPidsMaxStopsForkBomb(t *testing.T) {
	const max = 8
	script := `i=0; while [ $i -lt 200 ]; do sleep 600 & i=$((i+1)); echo $i; done; echo unbounded; wait`
	p := startLimited(t, procbridge.Spec{Path: "sh", Args: []string{"-c", script}, PidsMax: max, Stdout: procbridge.Lines, Stderr: procbridge.Discard})
	last := 0
	for l := range p.Lines() {
		require.NotEqual(t, "unbounded", l.Text, "the loop ran to its end: PidsMax did not hold")
		n, err := strconv.Atoi(l.Text)
		require.NoError(t, err, "line %q", l.Text)
		last = n
	}
	e := exitedEvent(t, p)
	assert.Equal(t, procbridge.ExitCode, e.Exit.Kind, "the shell exits when it cannot fork: %v", e)
	assert.Equal(t, max-1, last, "sleepers started beside the shell")
}

// TestCPUMaxThrottles: a spinning worker capped at a tenth of a CPU uses
// about that over a window (the bound is generous: a quarter of a CPU).
func TestCPUMaxThrottles(t *testing.T) {
	p := startLimited(t, procbridge.Spec{Path: "sh", Args: []string{"-c", "while :; do :; done"}, CPUMax: 0.1})
	defer func() {
		p.Kill()
		<-p.Done()
	}()
	cpu0, wall0 := cpuTime(t, p.Pid()), time.Now()
	<-time.After(time.Second) // a window of measurement, not a synchronisation
	cpu1, wall1 := cpuTime(t, p.Pid()), time.Now()
	share := float64(cpu1-cpu0) / float64(wall1.Sub(wall0))
	t.Logf("CPUMax 0.1: used %.3f of a CPU over %v", share, wall1.Sub(wall0).Round(time.Millisecond))
	assert.Less(t, share, 0.25)
}

// cpuTime returns pid's user and system time, from /proc/PID/stat.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ
}

// TestLimitsStayWithTheirWorker: a worker started after a limited one is
// in this process's own groups: the forker's thread went back.
func TestLimitsStayWithTheirWorker(t *testing.T) {
	limited := startLimited(t, procbridge.Spec{Path: "sleep", Args: []string{"600"}, MemoryMax: 256 << 20, CPUMax: 1, PidsMax: 64})
	defer func() {
		limited.Kill()
		<-limited.Done()
	}()
	for range 4 { // over every forker
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Path: "sleep", Args: []string{"600"}})
		require.NoError(t, err)
		own, child := cgroupsOf(t, os.Getpid()), cgroupsOf(t, p.Pid())
		p.Kill()
		<-p.Done()
		for ctl, path := range own {
			if ctl != "0" && ctl != "" {
				assert.Equal(t, path, child[ctl], "the unlimited worker's %s group", ctl)
			}
		}
	}
	lim := cgroupsOf(t, limited.Pid())
	assert.NotEqual(t, cgroupsOf(t, os.Getpid()), lim, "the limited worker is in groups of its own")
}

// cgroupsOf returns pid's v1 groups by their controllers (and the v2
// cgroup by "0").
func cgroupsOf(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	require.NoError(t, err)
	out := map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 {
			key := f[1]
			if f[0] == "0" {
				key = "0"
			}
			out[key] = f[2]
		}
	}
	return out
}

// BenchmarkStartLimits: Start to its return for a worker without limits
// and one with all three (its groups made, the forker's thread in and out
// of them), interleaved, and Exited to Done (the groups emptied and
// removed) for each.
//
//	go test -run '^$' -bench StartLimits -benchtime 100x ./procbridge/
func BenchmarkStartLimits(b *testing.B) {
	plain := procbridge.Spec{Worker: "wait"}
	limited := procbridge.Spec{Worker: "wait", MemoryMax: 256 << 20, CPUMax: 1, PidsMax: 64}
	var start, startLim, end, endLim latencies
	specs := []procbridge.Spec{plain, limited}
	for b.Loop() {
		// Each goes first in turn: the second starts beside the first's
		// teardown.
		slices.Reverse(specs)
		for _, spec := range specs {
			t0 := time.Now()
			p, err := procbridge.Start(b.Context(), spec)
			if errors.Is(err, procbridge.ErrNotSupported) {
				b.Skipf("this host cannot apply the limits: %v", err)
			}
			if err != nil {
				b.Fatal(err)
			}
			took := int64(time.Since(t0))
			p.Kill()
			for e := range p.Events() {
				if _, ok := e.(procbridge.Exited); ok {
					t0 = time.Now()
				}
			}
			<-p.Done()
			if spec.MemoryMax == 0 {
				start, end = append(start, took), append(end, int64(time.Since(t0)))
			} else {
				startLim, endLim = append(startLim, took), append(endLim, int64(time.Since(t0)))
			}
		}
	}
	start.report(b, "start-")
	startLim.report(b, "start-limits-")
	end.report(b, "end-")
	endLim.report(b, "end-limits-")
}

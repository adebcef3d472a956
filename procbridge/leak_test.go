//go:build linux

package procbridge_test

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

// TestNoLeakOver1000Cycles starts and kills a worker 1,000 times (under both
// death signals, with heartbeats and output lines so every goroutine of the
// bridge runs) and checks no descriptor and no goroutine is left.
func TestNoLeakOver1000Cycles(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	spec := procbridge.Spec{Worker: "beat", Stdout: procbridge.Lines, Stderr: procbridge.ToWriter(&syncBuffer{}),
		Heartbeat: procbridge.Heartbeat{Interval: 5 * time.Millisecond, Timeout: time.Second}}
	cycle := func(i int) {
		p, err := startWatching(t, spec, watchModes[i%2])
		require.NoError(t, err)
		p.Kill()
		exit, err := p.Wait(ctxT(t))
		require.NoError(t, err)
		require.Equal(t, procbridge.ExitStopped, exit.Kind)
	}
	cycle(0) // warm up: the forker, the lifeline and /dev/null are opened once
	cycle(1)
	awaitMonitorIdle(t)
	fds, goroutines := openFds(t), runtime.NumGoroutine()
	for i := range n {
		cycle(i)
	}
	// The hang monitor (and its timerfd) goes once its last worker is gone.
	awaitMonitorIdle(t)
	assert.Equal(t, fds, openFds(t), "descriptors after %d cycles", n)
	// Goroutines of the last cycle may still be on their way out.
	deadlineAt := time.Now().Add(deadline)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadlineAt) {
		runtime.Gosched()
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines, "goroutines after %d cycles", n)
}

// awaitMonitorIdle waits, with a deadline, for the hang monitor to exit.
func awaitMonitorIdle(t *testing.T) {
	t.Helper()
	deadlineAt := time.Now().Add(deadline)
	for !procbridge.MonitorIdle() {
		if time.Now().After(deadlineAt) {
			t.Fatal("the hang monitor is still running")
		}
		runtime.Gosched()
	}
}

// TestOwnSegmentNotHeld: once a worker with a segment of its own is
// started, the supervisor holds no descriptor of that segment (the mapping
// serves it): every descriptor the supervisor holds is copied into each
// child it forks, and one kept per worker made each start slower as
// workers were added. A group's segment, which its spares are started
// onto, stays open.
func TestOwnSegmentNotHeld(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Name: "own-segment", Worker: "beat",
		Heartbeat: procbridge.Heartbeat{Interval: 5 * time.Millisecond, Timeout: time.Second}})
	require.NoError(t, err)
	t.Cleanup(func() { p.Kill(); <-p.Done() })
	assert.Zero(t, segmentFds(t, "own-segment"), "descriptors of a started worker's own segment")
	waitBeats(t, []*procbridge.Process{p}, 3) // the mapping serves it

	g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Name: "group-segment", Worker: "beating-counter",
		StateSize: 8, RingSize: 4096, Heartbeat: groupBeat}, 1)
	require.NoError(t, err)
	t.Cleanup(func() { g.Stop(context.Background()) })
	assert.Equal(t, 1, segmentFds(t, "group-segment"), "descriptors of a group's segment")
}

// segmentFds counts this process's descriptors of the segments named name.
func segmentFds(t *testing.T, name string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(link, "/memfd:understudy:"+name+" ") {
			n++
		}
	}
	return n
}

//go:build linux

package procbridge_test

import (
	"runtime"
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

//go:build linux

package procbridge_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

// batchBeat leaves 300 ms between interval and timeout: watched in batch.
var batchBeat = procbridge.Heartbeat{Interval: 100 * time.Millisecond, Timeout: 400 * time.Millisecond}

// TestBatchWatch: workers whose timeout leaves 250 ms or more after their
// interval get no watchdog, and the monitor, keeping their deadlines on its
// own timer, wakes about once per (timeout − interval) for all of them
// together, not once per worker; a worker among them that stops beating is
// still hung.
func TestBatchWatch(t *testing.T) {
	var ps []*procbridge.Process
	for range 8 {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "beat", Heartbeat: batchBeat})
		require.NoError(t, err)
		t.Cleanup(func() { p.Kill(); <-p.Done() })
		nextEvent(t, p) // Ready
		assert.False(t, procbridge.HasWatchdogForTest(p), "a worker watched in batch has no watchdog")
		ps = append(ps, p)
	}
	waitBeats(t, ps, 2)
	before, t0 := procbridge.MonitorWakes(), time.Now()
	quick0, full0 := procbridge.MonitorLooks()
	waitBeats(t, ps, 15) // 1.5 s
	wakes, took := procbridge.MonitorWakes()-before, time.Since(t0)
	quick, full := procbridge.MonitorLooks()
	quick, full = quick-quick0, full-full0
	t.Logf("the monitor woke %d times in %v while 8 workers watched in batch beat 15 times each: %d quick looks, %d full", wakes, took.Round(time.Millisecond), quick, full)
	// About one wake per 300 ms; a monitor that woke per worker would
	// wake 8 times as often. Generous: one per 100 ms, and a few.
	assert.LessOrEqual(t, wakes, int64(took/(100*time.Millisecond))+4)
	// A worker that beat since the last wake costs reads of memory, no
	// system call: the quick look. Only one that has not (a wake soon
	// after another, a worker held up past a wake) gets the full look, the
	// path of every system call of the watch. Generous for a loaded
	// machine: most looks quick, where a monitor without them makes none.
	assert.Greater(t, quick, full, "a healthy worker watched in batch must cost no system call")

	fast, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "beat", Heartbeat: fastBeat})
	require.NoError(t, err)
	assert.True(t, procbridge.HasWatchdogForTest(fast), "a short slack keeps the watchdog")
	fast.Kill()
	<-fast.Done()

	hung, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "beat-then-stall", Args: []string{"3", "sleep"}, Heartbeat: batchBeat})
	require.NoError(t, err)
	defer func() { hung.Kill(); <-hung.Done() }()
	for {
		e := nextEvent(t, hung)
		if h, ok := e.(procbridge.Hung); ok {
			assert.GreaterOrEqual(t, h.Err.Silence, batchBeat.Timeout, "%v", h)
			break
		}
		_, exited := e.(procbridge.Exited)
		require.False(t, exited, "ended before it was found hung: %v", e)
	}
}

// TestBatchStartsLeaveTheMonitorAsleep: the start of a worker watched in
// batch moves the monitor's timer to its first deadline at most, and does
// not wake it: a wake reads every worker, so one per start would cost n²/2
// reads for n starts.
func TestBatchStartsLeaveTheMonitorAsleep(t *testing.T) {
	slow := procbridge.Heartbeat{Interval: 100 * time.Millisecond, Timeout: 5 * time.Second}
	const n = 16
	before := procbridge.MonitorWakes()
	for range n {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "beat", Heartbeat: slow})
		require.NoError(t, err)
		t.Cleanup(func() { p.Kill(); <-p.Done() })
		nextEvent(t, p) // Ready
	}
	wakes := procbridge.MonitorWakes() - before
	t.Logf("the monitor woke %d times while %d workers watched in batch started", wakes, n)
	// The first start starts the monitor, whose first look comes at once;
	// no deadline falls in the starts. Generous: a few wakes, not one a start.
	assert.LessOrEqual(t, wakes, int64(4))
}

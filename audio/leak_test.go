//go:build linux

package audio

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/supervision"
)

// TestEngineNoLeaks starts and closes engines whose nodes fail over, whose
// node process is restarted cold, and whose supervisor gives up, and
// checks that no descriptor or goroutine outlives them (the supervision
// tree's actor system included).
func TestEngineNoLeaks(t *testing.T) {
	g, sink := chain(48000, 128)
	failovers := func() {
		_, _ = render(t, Config{Graph: g, Sink: sink, Watchdog: 20 * time.Millisecond, Faults: []Fault{
			{Node: "src", Cycle: 10, Kind: "kill"},
			{Node: "amp", Cycle: 20, Kind: "hang"},
		}}, 40)
	}
	coldRestart := func() {
		e, err := Start(ctxT(t), Config{Graph: g, Sink: sink, Watchdog: 20 * time.Millisecond})
		require.NoError(t, err)
		defer e.Close(ctxT(t))
		sub := e.Tree().Subscribe(ctxT(t), 256)
		_, err = e.Run(ctxT(t), 10)
		require.NoError(t, err)
		restartCold(t, e, sub, "dly")
		rep, err := e.Run(ctxT(t), 10)
		require.NoError(t, err)
		require.Len(t, rep.Restarts, 1, "%v", rep)
		require.NoError(t, e.Close(ctxT(t)))
	}
	givesUp := func() {
		e, err := Start(ctxT(t), Config{Graph: g, Sink: sink, Watchdog: 20 * time.Millisecond,
			Intensity: supervision.Intensity{MaxRestarts: 1, Period: time.Hour},
			Faults:    []Fault{{Node: "dly", Cycle: 5, Kind: "kill"}, {Node: "amp", Cycle: 10, Kind: "kill"}}})
		require.NoError(t, err)
		defer e.Close(ctxT(t))
		_, err = e.Run(ctxT(t), 1<<30)
		require.ErrorIs(t, err, ErrNodeDown)
		require.NoError(t, e.Close(ctxT(t)))
	}
	once := func() {
		failovers()
		coldRestart()
		givesUp()
	}
	once() // the first engine opens what stays open (the forker's thread, pidfd support probes)
	fds, before := openFds(t), goleak.IgnoreCurrent()
	for range 3 {
		once()
	}
	assert.Equal(t, fds, openFds(t), "descriptors after 9 engines")
	// A goroutine on its way out (the hang monitor stops once its last
	// worker is gone, the reaper once its last zombie is reaped) is not a
	// leak.
	assert.NoError(t, testproc.Leaks(before, goleak.IgnoreAnyFunction("github.com/understudy/understudy/procbridge.forkLoop")), "goroutines after 9 engines")
}

// TestDriverAllocatesNothing: the driver's allocations do not grow with
// the number of cycles (Run itself allocates a few things once).
func TestDriverAllocatesNothing(t *testing.T) {
	g, sink := chain(48000, 128)
	cfg := Config{Graph: g, Sink: sink, Watchdog: time.Second}
	e, err := Start(ctxT(t), cfg)
	require.NoError(t, err)
	defer e.Close(ctxT(t))
	mallocs := func(cycles uint64) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := e.Run(ctxT(t), cycles)
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		return after.Mallocs - before.Mallocs
	}
	mallocs(100) // warm up
	short, long := mallocs(10), mallocs(2010)
	t.Logf("Run(10): %d allocations, Run(2010): %d", short, long)
	assert.Less(t, long, short+20, "allocations grow with cycles")
}

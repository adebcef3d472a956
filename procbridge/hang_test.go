//go:build linux

package procbridge_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

var fastBeat = procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: 20 * time.Millisecond}

func TestHang(t *testing.T) {
	for _, how := range []string{"sleep", "spin"} {
		t.Run(how, func(t *testing.T) {
			p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "stop-beating", Args: []string{"20", how}, Heartbeat: fastBeat})
			require.NoError(t, err)
			nextEvent(t, p) // Ready
			hung, ok := nextEvent(t, p).(procbridge.Hung)
			require.True(t, ok, "Hung comes before Exited")
			require.NotZero(t, p.Mark(), "the worker marked its last beat")
			assert.GreaterOrEqual(t, hung.Mono-p.Mark(), int64(fastBeat.Timeout), "not raised before the timeout")
			assert.ErrorIs(t, hung.Err, procbridge.ErrHung)
			assert.Equal(t, p.Pid(), hung.Err.Pid)
			e := exitedEvent(t, p)
			assert.Equal(t, procbridge.ExitKilledHung, e.Exit.Kind)
			assert.ErrorIs(t, e.Err, procbridge.ErrHung)
		})
	}
}

// TestNoFalseHangUnderLoad keeps both cores busy with other work while
// workers beat: a worker that waits for a CPU is not hung.
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
	spec := procbridge.Spec{Worker: "beat", Heartbeat: procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: 5 * time.Millisecond}}
	var ps []*procbridge.Process
	for range 4 {
		p, err := procbridge.Start(ctxT(t), spec)
		require.NoError(t, err)
		nextEvent(t, p) // Ready
		ps = append(ps, p)
	}
	quiet := time.After(3 * time.Second)
	for _, p := range ps {
		select {
		case e := <-p.Events():
			if h, ok := e.(procbridge.Hung); ok {
				t.Fatalf("%s: %v (starved %v) while merely starved", p.Name(), h.Err, h.Err.Starved)
			}
			t.Fatalf("%s: %#v", p.Name(), e)
		case <-quiet:
			quiet = closedTime
		}
	}
	for _, p := range ps {
		_, err := p.Stop(ctxT(t))
		require.NoError(t, err)
		e := exitedEvent(t, p)
		assert.Equal(t, procbridge.ExitStopped, e.Exit.Kind)
	}
}

var closedTime = func() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}()

//go:build linux

package procbridge_test

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/deathwatch"
	"github.com/understudy/understudy/procbridge"
)

// warmTestSlice is the death-notice waiters' slice in these tests: short,
// so that several pass quickly.
const warmTestSlice = 5 * time.Millisecond

// awaitWarmWakes waits until the waiters' slices counted by wakes pass n.
func awaitWarmWakes(t *testing.T, wakes func() uint64, n uint64) {
	t.Helper()
	end := time.Now().Add(deadline)
	for wakes() < n {
		if time.Now().After(end) {
			t.Fatalf("the waiters ended %d waits at a slice's end, want %d", wakes(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func futexWakes() uint64 { f, _ := procbridge.WarmWakes(); return f }
func ebpfWakes() uint64  { _, e := procbridge.WarmWakes(); return e }

// holdWarm holds warm until the returned release, or the test's end.
func holdWarm(t *testing.T) (release func()) {
	t.Helper()
	release = procbridge.HoldWarmForTest()
	t.Cleanup(release)
	return release
}

// killAfterSlices kills p once wakes has counted three more slices, and
// wants its death told first as a Dying from source, then its Exited.
func killAfterSlices(t *testing.T, p *procbridge.Process, wakes func() uint64, source string) {
	t.Helper()
	awaitWarmWakes(t, wakes, wakes()+3)
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGKILL))
	e := nextEvent(t, p)
	d, ok := e.(procbridge.Dying)
	require.True(t, ok, "want Dying, got %v", e)
	assert.Equal(t, source, d.Source)
	require.IsType(t, procbridge.Exited{}, nextEvent(t, p))
}

// quietFor asserts that wakes moves by at most one (a slice under way)
// while a child lives 40 slices: the waiters sleep without a bound.
func quietFor(t *testing.T, wakes func() uint64) {
	t.Helper()
	before := wakes()
	require.NoError(t, exec.Command("sleep", "0.2").Run())
	assert.LessOrEqual(t, wakes(), before+1, "waits ended at a slice's end while nothing held warm")
}

// TestWarmGroup: a hot-standby group keeps the death-notice waiters
// waking every slice for its whole life; the primary's death after several
// slices is still its Dying, and the group fails over on it; once the
// group is gone nothing holds them warm.
func TestWarmGroup(t *testing.T) {
	procbridge.SetWarmSliceForTest(warmTestSlice)
	defer procbridge.SetWarmSliceForTest(0)
	require.False(t, procbridge.WarmHeld(), "warm held before the group")
	g := startGroup(t, 1)
	require.True(t, procbridge.WarmHeld(), "a group holds warm")
	primary := g.Primary()
	awaitWarmWakes(t, futexWakes, futexWakes()+3)
	require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGKILL))
	p := nextGroupEvent[procbridge.Promoted](t, g)
	assert.Equal(t, primary.Pid(), p.From)
	_, ok := p.Cause.(procbridge.Dying)
	assert.True(t, ok, "failed over on %v, want a Dying", p.Cause)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	require.NoError(t, g.Stop(ctx))
	assert.False(t, procbridge.WarmHeld(), "warm held after the group")
}

// TestWarmFutexWaiter: a worker's robust-futex waiter sleeps without a
// bound while nothing holds warm (its loop counts no slice); a hold makes
// the waiter it finds asleep wait in slices at once, and a death after
// several slices is still told; with the hold released the slices stop.
func TestWarmFutexWaiter(t *testing.T) {
	procbridge.SetWarmSliceForTest(warmTestSlice)
	defer procbridge.SetWarmSliceForTest(0)
	procbridge.SetKernelWatchForTest(false) // the robust futex alone tells
	defer procbridge.SetKernelWatchForTest(true)
	require.False(t, procbridge.WarmHeld(), "warm held before the test")
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "wait"})
	require.NoError(t, err)
	t.Cleanup(func() { p.Kill(); <-p.Done() })
	require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
	quietFor(t, futexWakes)

	release := holdWarm(t)
	killAfterSlices(t, p, futexWakes, "futex")

	q, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "wait"})
	require.NoError(t, err)
	t.Cleanup(func() { q.Kill(); <-q.Done() })
	require.IsType(t, procbridge.Ready{}, nextEvent(t, q))
	release()
	quietFor(t, futexWakes)
}

// TestWarmKernelReader: the eBPF watch's reader, likewise: no slices
// without a hold, slices at once with one, a notice told after several;
// and with deathwatch.EnvOff set to "prompt" the watch holds warm itself
// while it watches anything.
func TestWarmKernelReader(t *testing.T) {
	needKernelWatch(t)
	procbridge.SetWarmSliceForTest(warmTestSlice)
	defer procbridge.SetWarmSliceForTest(0)
	require.False(t, procbridge.WarmHeld(), "warm held before the test")
	p, goAhead := scripted(t, "sleep 60")
	goAhead()
	quietFor(t, ebpfWakes)

	release := holdWarm(t)
	killAfterSlices(t, p, ebpfWakes, "ebpf")
	release()

	t.Run("prompt", func(t *testing.T) {
		t.Setenv(deathwatch.EnvOff, "prompt")
		p, goAhead := scripted(t, "sleep 60")
		goAhead()
		assert.True(t, procbridge.WarmHeld(), "prompt: the watch holds warm")
		killAfterSlices(t, p, ebpfWakes, "ebpf")
		<-p.Done()
		assert.False(t, procbridge.WarmHeld(), "prompt: warm held with nothing watched")
	})
}

// TestWarmTick: kept warm by one ticking goroutine instead (the way the
// benchmarks compare), the ticks come while held and stop with the hold.
func TestWarmTick(t *testing.T) {
	procbridge.SetWarmSliceForTest(warmTestSlice)
	defer procbridge.SetWarmSliceForTest(0)
	procbridge.SetWarmTickForTest(true)
	defer procbridge.SetWarmTickForTest(false)
	release := procbridge.HoldWarmForTest()
	awaitWarmWakes(t, futexWakes, futexWakes()+3)
	release()
	quietFor(t, futexWakes)
}

//go:build linux

package supervision_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
	"github.com/understudy/understudy/supervision/supervisiontest"
)

// TestIgnoreSigtermKilledAfterGrace: a child that ignores SIGTERM is killed
// when its grace period ends, and the stop report says so.
func TestIgnoreSigtermKilledAfterGrace(t *testing.T) {
	grace := 200 * time.Millisecond
	spec := supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "polite", Process: proc("wait")},
		{Name: "stubborn", Process: proc("ignore-sigterm"), Shutdown: grace},
	}}
	rec := newRecorder()
	tree, err := supervision.Start(ctxT(t), spec, supervision.Options{OnEvent: rec.on})
	require.NoError(t, err)
	pid := childPid(t, tree.Supervisor(), "stubborn")

	report, err := tree.Stop(ctxT(t))
	require.NoError(t, err)
	require.Len(t, report, 1, "%v", report)
	late := report[0]
	assert.Equal(t, "root", late.Supervisor)
	assert.Equal(t, "stubborn", late.Child)
	assert.Equal(t, pid, late.Pid)
	assert.True(t, late.Killed)
	assert.False(t, late.Late)
	assert.GreaterOrEqual(t, late.Took, grace)
	waitGone(t, pid)

	stopped := next[supervision.ChildStopped](t, rec, "root", "stubborn")
	assert.True(t, stopped.Killed)
	assert.Equal(t, syscall.SIGKILL, stopped.Exit.Signal)
	assert.Contains(t, stopped.String(), "root/stubborn#1: stopped (shutdown) in ")
	assert.Contains(t, stopped.String(), ", killed after its grace period: stopped by us: killed by SIGKILL")
	polite := next[supervision.ChildStopped](t, rec, "root", "polite")
	assert.False(t, polite.Killed || polite.Late, "in time")
}

// TestNestedSupervisorPastItsGrace: a nested supervisor given a grace
// period to stop its children is reported not stopped when it takes
// longer, and the tree goes on stopping; its stubborn child is killed when
// its own grace ends.
func TestNestedSupervisorPastItsGrace(t *testing.T) {
	inner := &supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "stubborn", Process: proc("ignore-sigterm"), Shutdown: 500 * time.Millisecond},
	}}
	spec := supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "a", Process: proc("wait")},
		{Name: "mid", Supervisor: inner, Shutdown: 50 * time.Millisecond},
	}}
	tree, err := supervision.Start(ctxT(t), spec, supervision.Options{})
	require.NoError(t, err)
	pid := childPid(t, tree.Supervisor("mid"), "stubborn")
	report, err := tree.Stop(ctxT(t))
	require.NoError(t, err)
	var outcomes []string
	for _, l := range report {
		switch {
		case l.Late:
			outcomes = append(outcomes, l.Supervisor+"/"+l.Child+": late")
		case l.Killed:
			outcomes = append(outcomes, l.Supervisor+"/"+l.Child+": killed")
		}
	}
	assert.ElementsMatch(t, []string{"root/mid: late", "root/mid/stubborn: killed"}, outcomes)
	assert.Equal(t, "root/mid: late", outcomes[0], "the parent gave up waiting first")
	waitGone(t, pid)
}

// TestBrutalKill: a child with brutal_kill gets SIGKILL at once, which is
// in time.
func TestBrutalKill(t *testing.T) {
	spec := supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "k", Process: proc("ignore-sigterm"), Shutdown: supervision.BrutalKill},
	}}
	tree, rec := start(t, spec, supervision.Options{})
	report, err := tree.Stop(ctxT(t))
	require.NoError(t, err)
	assert.Empty(t, report)
	stopped := next[supervision.ChildStopped](t, rec, "root", "k")
	assert.False(t, stopped.Killed || stopped.Late, "a brutal kill is in time")
	assert.Equal(t, syscall.SIGKILL, stopped.Exit.Signal)
	assert.Less(t, stopped.Took, 5*time.Second)
}

// TestStopWithExpiredContext: Stop returns when its context ends, says the
// tree had not finished, and the tree still stops.
func TestStopWithExpiredContext(t *testing.T) {
	spec := supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "stubborn", Process: proc("ignore-sigterm"), Shutdown: 300 * time.Millisecond},
	}}
	tree, err := supervision.Start(ctxT(t), spec, supervision.Options{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = tree.Stop(ctx)
	require.ErrorIs(t, err, context.Canceled, "the tree had not finished stopping")
	require.NoError(t, tree.Wait(ctxT(t)))
	report, err := tree.Stop(ctxT(t))
	require.NoError(t, err, "stopping an ended tree")
	assert.Empty(t, report)
}

// TestSimpleOneForOne: children are started on demand from the template,
// with extra arguments; a failure restarts only that child; the children
// are stopped together.
func TestSimpleOneForOne(t *testing.T) {
	spec := supervision.Spec{
		Strategy:  supervision.SimpleOneForOne,
		Intensity: supervision.Intensity{MaxRestarts: 10, Period: time.Minute},
		Children: []supervision.ChildSpec{{
			Name: "conn", Process: proc("exit-when-told"), Restart: supervision.Transient,
			Backoff: supervision.Backoff{Initial: time.Hour, Max: time.Hour},
		}},
	}
	tree, rec := start(t, spec, supervision.Options{}, "conn-")
	root := tree.Supervisor()
	n, err := root.Count(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, supervision.Counts{Specs: 1}, n, "a simple_one_for_one supervisor starts no child itself; its spec is the template")

	// The extra argument is the exit status of the "exit-when-told" worker.
	first, err := root.StartSimpleChild(ctxT(t), "0")
	require.NoError(t, err)
	assert.Equal(t, "conn-1", first.Name)
	term := next[supervision.ChildTerminated](t, rec, "root", "conn-1")
	assert.True(t, term.Removed, "a simple_one_for_one child is not kept")

	_, err = root.StartSimpleChild(ctxT(t), "7")
	require.NoError(t, err)
	exited := next[supervision.ChildExited](t, rec, "root", "conn-2")
	assert.Equal(t, 7, exited.Exited.Exit.Code)
	next[supervision.ChildRestarting](t, rec, "root", "conn-2")
	next[supervision.ChildReady](t, rec, "root", "conn-2")
	// Its second failure waits out an hour's backoff.
	nextBackoff(t, rec, "root", "conn-2")

	cs, err := root.Children(ctxT(t))
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.Equal(t, supervision.StateBackingOff, cs[0].State)

	_, err = root.StartChild(ctxT(t), supervision.ChildSpec{Name: "x", Process: proc("wait")})
	assert.ErrorIs(t, err, supervision.ErrSimpleOneForOne)
	assert.ErrorIs(t, root.DeleteChild(ctxT(t), "conn-2"), supervision.ErrSimpleOneForOne)
	require.NoError(t, root.TerminateChild(ctxT(t), "conn-2"))
	n, err = root.Count(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, supervision.Counts{Specs: 1}, n)
}

// TestSimpleOneForOneStopsChildrenTogether: on shutdown the children of a
// simple_one_for_one supervisor stop in parallel (OTP), so three children
// that each ignore SIGTERM for their grace take about one grace, not three.
// The grace is long beside what a loaded machine adds to a stop (the
// kill, the exit, the reap: up to hundreds of milliseconds each).
func TestSimpleOneForOneStopsChildrenTogether(t *testing.T) {
	grace := time.Second
	spec := supervision.Spec{
		Strategy: supervision.SimpleOneForOne,
		Children: []supervision.ChildSpec{{Name: "s", Process: proc("ignore-sigterm"), Shutdown: grace}},
	}
	tree, err := supervision.Start(ctxT(t), spec, supervision.Options{})
	require.NoError(t, err)
	for range 3 {
		_, err := tree.Supervisor().StartSimpleChild(ctxT(t))
		require.NoError(t, err)
	}
	began := time.Now()
	report, err := tree.Stop(ctxT(t))
	require.NoError(t, err)
	assert.Len(t, report, 3)
	// Generous: three sequential graces would be at least 3 s.
	assert.Less(t, time.Since(began), 3*grace, "stopped one after the other")
}

// TestRuntimeAPI exercises OTP's run-time API: which_children,
// count_children, start_child, terminate_child, restart_child,
// delete_child, and their errors.
func TestRuntimeAPI(t *testing.T) {
	beat := &procbridge.Spec{Worker: "beat", Heartbeat: procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: time.Second}}
	spec := supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "a", Process: beat},
		{Name: "mid", Supervisor: &supervision.Spec{Children: children("x")}},
	}}
	began := time.Now()
	tree, rec := start(t, spec, supervision.Options{})
	root := tree.Supervisor()
	ctx := ctxT(t)

	cs, err := root.Children(ctx)
	require.NoError(t, err)
	require.Len(t, cs, 2)
	assert.Equal(t, "a", cs[0].Name)
	assert.False(t, cs[0].Supervisor)
	assert.Equal(t, supervision.StateRunning, cs[0].State)
	assert.True(t, !cs[0].Since.Before(began) && !cs[0].Since.After(time.Now()), "up since it became ready: %v", cs[0].Since)
	assert.Positive(t, cs[0].HeartbeatAge, "the age of its last beat")
	assert.Less(t, cs[0].HeartbeatAge, time.Since(began), "it beat since it started")
	assert.Empty(t, cs[0].Spares, "no standby")
	assert.Positive(t, cs[0].Pid)
	assert.Equal(t, 1, cs[0].Incarnation)
	assert.True(t, cs[1].Supervisor)
	assert.Equal(t, 0, cs[1].Pid)

	n, err := root.Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, supervision.Counts{Specs: 2, Active: 2, Supervisors: 1, Workers: 1}, n)

	mid := tree.Supervisor("mid")
	assert.Equal(t, "root/mid", mid.Path())
	x, err := childOf(ctx, mid, "x")
	require.NoError(t, err)
	assert.Equal(t, supervision.StateRunning, x.State)

	// start_child
	added, err := root.StartChild(ctx, supervision.ChildSpec{Name: "b", Process: proc("wait")})
	require.NoError(t, err)
	assert.Equal(t, supervision.StateRunning, added.State)
	assert.Positive(t, added.Pid)
	_, err = root.StartChild(ctx, supervision.ChildSpec{Name: "b", Process: proc("wait")})
	assert.ErrorIs(t, err, supervision.ErrChildExists)
	_, err = root.StartChild(ctx, supervision.ChildSpec{Name: "", Process: proc("wait")})
	var se *procbridge.SpecError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "Name", se.Field)
	_, err = root.StartChild(ctx, supervision.ChildSpec{Name: "bad", Process: proc("die-before-ready")})
	assert.ErrorIs(t, err, supervision.ErrStartFailed)
	assert.ErrorIs(t, err, procbridge.ErrExitedBeforeReady)
	_, err = childOf(ctx, root, "bad")
	assert.ErrorIs(t, err, supervision.ErrNoChild, "a child that did not start is not kept")
	_, err = root.StartSimpleChild(ctx)
	assert.ErrorIs(t, err, supervision.ErrSimpleOneForOne)

	// terminate_child, restart_child, delete_child
	assert.ErrorIs(t, root.DeleteChild(ctx, "b"), supervision.ErrRunning)
	_, err = root.RestartChild(ctx, "b")
	assert.ErrorIs(t, err, supervision.ErrRunning)
	require.NoError(t, root.TerminateChild(ctx, "b"))
	waitGone(t, added.Pid)
	stopped := next[supervision.ChildStopped](t, rec, "root", "b")
	assert.Equal(t, "terminate", stopped.Reason)
	b, err := childOf(ctx, root, "b")
	require.NoError(t, err)
	assert.Equal(t, supervision.StateTerminated, b.State)
	assert.Equal(t, 0, b.Pid)
	n, err = root.Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, supervision.Counts{Specs: 3, Active: 2, Supervisors: 1, Workers: 2}, n)

	again, err := root.RestartChild(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, supervision.StateRunning, again.State)
	assert.Equal(t, 2, again.Incarnation)
	require.NoError(t, root.TerminateChild(ctx, "b"))
	require.NoError(t, root.DeleteChild(ctx, "b"))
	_, err = childOf(ctx, root, "b")
	assert.ErrorIs(t, err, supervision.ErrNoChild)

	// A nested supervisor is terminated and restarted like any child.
	require.NoError(t, root.TerminateChild(ctx, "mid"))
	_, err = mid.Children(ctx)
	assert.ErrorIs(t, err, supervision.ErrNoSupervisor)
	_, err = root.RestartChild(ctx, "mid")
	require.NoError(t, err)
	x2, err := childOf(ctx, mid, "x")
	require.NoError(t, err)
	assert.NotEqual(t, x.Pid, x2.Pid)

	assert.ErrorIs(t, root.TerminateChild(ctx, "nope"), supervision.ErrNoChild)
	assert.ErrorIs(t, root.DeleteChild(ctx, "nope"), supervision.ErrNoChild)
	_, err = root.RestartChild(ctx, "nope")
	assert.ErrorIs(t, err, supervision.ErrNoChild)

	// A terminated child is not restarted by a sibling's failure under
	// one_for_all... (this supervisor is one_for_one): it stays
	// terminated when its sibling crashes.
	require.NoError(t, root.TerminateChild(ctx, "mid"))
	require.NoError(t, syscall.Kill(childPid(t, root, "a"), syscall.SIGKILL))
	next[supervision.ChildReady](t, rec, "root", "a")
	m, err := childOf(ctx, root, "mid")
	require.NoError(t, err)
	assert.Equal(t, supervision.StateTerminated, m.State)
}

// TestBackoffWithFakeClock: the second consecutive failure waits out the
// child's backoff, on the tree's clock; the wait counts against nothing,
// and the restart happens when the clock gets there.
func TestBackoffWithFakeClock(t *testing.T) {
	clock := supervisiontest.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	spec := supervision.Spec{
		Intensity: supervision.Intensity{MaxRestarts: 5, Period: time.Minute},
		Children: []supervision.ChildSpec{{
			Name: "w", Process: proc("wait"),
			Backoff: supervision.Backoff{Initial: 10 * time.Second, Max: time.Minute},
		}},
	}
	tree, rec := start(t, spec, supervision.Options{Clock: clock})
	root := tree.Supervisor()

	require.NoError(t, syscall.Kill(childPid(t, root, "w"), syscall.SIGKILL))
	next[supervision.ChildRestarting](t, rec, "root", "w")
	next[supervision.ChildReady](t, rec, "root", "w") // the first restart is immediate

	require.NoError(t, syscall.Kill(childPid(t, root, "w"), syscall.SIGKILL))
	off := nextBackoff(t, rec, "root", "w")
	assert.Equal(t, 10*time.Second, off.Delay)
	c, err := childOf(ctxT(t), root, "w")
	require.NoError(t, err)
	assert.Equal(t, supervision.StateBackingOff, c.State)

	require.NoError(t, clock.WaitForTimers(ctxT(t), 1))
	clock.Advance(10*time.Second - time.Nanosecond)
	c, err = childOf(ctxT(t), root, "w")
	require.NoError(t, err)
	assert.Equal(t, supervision.StateBackingOff, c.State, "still waiting")
	clock.Advance(time.Nanosecond)
	ready := next[supervision.ChildReady](t, rec, "root", "w")
	assert.Equal(t, 3, ready.Incarnation)

	// A third failure doubles the wait.
	require.NoError(t, syscall.Kill(ready.Ready.Pid, syscall.SIGKILL))
	off = nextBackoff(t, rec, "root", "w")
	assert.Equal(t, 20*time.Second, off.Delay)
}

// TestTreeBackoffComposesWithIntensity: backoff slows restarts, but every
// restart counts against the intensity, so a crash loop still escalates.
func TestTreeBackoffComposesWithIntensity(t *testing.T) {
	clock := supervisiontest.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	spec := supervision.Spec{
		Intensity: supervision.Intensity{MaxRestarts: 2, Period: time.Hour},
		Children: []supervision.ChildSpec{{
			Name: "w", Process: proc("crash"),
			Backoff: supervision.Backoff{Initial: time.Second},
		}},
	}
	rec := newRecorder()
	tree, err := supervision.Start(ctxT(t), spec, supervision.Options{Clock: clock, OnEvent: goOnWhenReady(rec.on, "w")})
	require.NoError(t, err)
	next[supervision.ChildRestarting](t, rec, "root", "w") // immediate
	nextBackoff(t, rec, "root", "w")
	require.NoError(t, clock.WaitForTimers(ctxT(t), 1))
	clock.Advance(time.Second)
	next[supervision.GaveUp](t, rec, "root", "w")
	require.ErrorIs(t, tree.Wait(ctxT(t)), supervision.ErrIntensity)
}

//go:build linux

package supervision_test

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// TestIntensityEscalatesThroughThreeLevels: a worker that crashes as soon
// as it is ready exceeds its supervisor's intensity (OTP's default, 1
// restart in 5 s), which stops its children and fails to its parent; each
// level restarts the failed one once, then gives up in turn, until the root
// ends the tree with the chain of reasons.
func TestIntensityEscalatesThroughThreeLevels(t *testing.T) {
	leaf := &supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "steady", Process: proc("wait")},
		{Name: "crasher", Process: proc("crash")},
	}}
	mid := &supervision.Spec{Children: []supervision.ChildSpec{{Name: "leaf", Supervisor: leaf}}}
	spec := supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "bystander", Process: proc("wait")},
		{Name: "mid", Supervisor: mid},
	}}
	rec := newRecorder()
	// Time stands still for the intensity windows: a loaded machine may
	// take more than 5 s to start a level's processes again between two
	// of its failures, and the level would then restart a third time.
	clock := stillClock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tree, err := supervision.Start(ctxT(t), spec, supervision.Options{OnEvent: goOnWhenReady(rec.on, "crasher"), Clock: clock})
	require.NoError(t, err)

	err = tree.Wait(ctxT(t))
	require.Error(t, err)
	assert.ErrorIs(t, err, supervision.ErrIntensity)

	// The chain: root gave up because of mid, mid because of leaf, leaf
	// because of the crasher's *procbridge.ExitError.
	var chain []string
	for e := error(nil); ; {
		if e == nil {
			e = err
		}
		var ee *supervision.EscalationError
		if !errors.As(e, &ee) {
			break
		}
		chain = append(chain, ee.Supervisor+" <- "+ee.Child)
		e = ee.Cause
	}
	assert.Equal(t, []string{"root <- mid", "root/mid <- leaf", "root/mid/leaf <- crasher"}, chain)
	var xe *procbridge.ExitError
	require.ErrorAs(t, err, &xe)
	assert.Equal(t, syscall.SIGKILL, xe.Exit.Signal)
	assert.Equal(t, "crasher", xe.Name)

	// Each level gave up, then failed to its parent (the parent's
	// ChildExited carries the escalation), the lowest first.
	var ups []string
	for _, ev := range rec.events() {
		switch e := ev.(type) {
		case supervision.GaveUp:
			ups = append(ups, "gave up "+e.Supervisor)
			assert.Equal(t, supervision.Intensity{MaxRestarts: 1, Period: 5 * time.Second}, e.Intensity)
			assert.Positive(t, e.Incarnation, "the failing child's incarnation")
			assert.Contains(t, e.String(), "2 restarts within 5s exceed its intensity (1 within 5s); the last failure: child ")
		case supervision.ChildExited:
			if e.Exited == nil && e.Err != nil {
				ups = append(ups, "escalated "+e.Supervisor+"/"+e.Child)
				require.ErrorIs(t, e.Err, supervision.ErrIntensity)
			}
		}
	}
	// The leaf gives up twice: once in each of mid's two incarnations of
	// it, and mid twice likewise; the root once.
	assert.Equal(t, []string{
		"gave up root/mid/leaf", "escalated root/mid/leaf",
		"gave up root/mid/leaf", "escalated root/mid/leaf", "gave up root/mid", "escalated root/mid",
		"gave up root/mid/leaf", "escalated root/mid/leaf",
		"gave up root/mid/leaf", "escalated root/mid/leaf", "gave up root/mid", "escalated root/mid",
		"gave up root",
	}, ups)
	all := rec.events()
	last, ok := all[len(all)-1].(supervision.ChildStopped)
	require.True(t, ok, "the root's last event is the stop of its last child, got %v", all[len(all)-1])
	assert.Equal(t, "root", last.Supervisor)
	assert.Equal(t, "bystander", last.Child)

	// Over intensity, the children are stopped in reverse start order:
	// at the leaf, steady (the crasher is already dead); at the root, mid
	// is dead and the bystander is stopped last.
	var stoppedAtRoot []string
	for _, ev := range all {
		if e, ok := ev.(supervision.ChildStopped); ok && e.Supervisor == "root" {
			stoppedAtRoot = append(stoppedAtRoot, e.Child)
			assert.Equal(t, "shutdown", e.Reason)
		}
	}
	assert.Equal(t, []string{"bystander"}, stoppedAtRoot)
	late, err := tree.Stop(ctxT(t))
	require.NoError(t, err)
	assert.Empty(t, late)
}

// stillClock is a supervision.Clock whose time stands still, while its
// timers run in real time: every failure falls within every intensity
// window, however long the processes take to start between them.
type stillClock struct{ at time.Time }

func (c stillClock) Now() time.Time { return c.at }

func (stillClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// TestStartFailure: a child that dies before it is ready fails the start;
// the children started before it are stopped in reverse order, and Start
// returns the reason.
func TestStartFailure(t *testing.T) {
	rec := newRecorder()
	spec := supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "a", Process: proc("wait")},
		{Name: "b", Process: proc("wait")},
		{Name: "bad", Process: proc("die-before-ready")},
		{Name: "never", Process: proc("wait")},
	}}
	tree, err := supervision.Start(ctxT(t), spec, supervision.Options{OnEvent: rec.on})
	require.Error(t, err)
	assert.Nil(t, tree)
	assert.ErrorIs(t, err, supervision.ErrStartFailed)
	assert.ErrorIs(t, err, procbridge.ErrExitedBeforeReady)
	var xe *procbridge.ExitError
	require.ErrorAs(t, err, &xe)
	assert.Equal(t, 5, xe.Exit.Code)

	var seq []string
	var pids []int
	for _, ev := range rec.events() {
		switch e := ev.(type) {
		case supervision.ChildReady:
			pids = append(pids, e.Ready.Pid)
		case supervision.ChildStarted:
			seq = append(seq, "started "+e.Child)
		case supervision.ChildStopped:
			seq = append(seq, "stopped "+e.Child)
		}
	}
	assert.Equal(t, []string{"started a", "started b", "started bad", "stopped b", "stopped a"}, seq)
	for _, pid := range pids {
		waitGone(t, pid)
	}
}

// TestNestedStartFailure: a nested supervisor that cannot start its
// children fails the start of its parent too.
func TestNestedStartFailure(t *testing.T) {
	spec := supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "mid", Supervisor: &supervision.Spec{Children: []supervision.ChildSpec{{Name: "bad", Process: proc("die-before-ready")}}}},
	}}
	_, err := supervision.Start(ctxT(t), spec, supervision.Options{})
	require.ErrorIs(t, err, supervision.ErrStartFailed)
	var ee *supervision.EscalationError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, "root", ee.Supervisor)
	assert.Equal(t, "mid", ee.Child)
	assert.ErrorIs(t, err, procbridge.ErrExitedBeforeReady)
}

// TestHangIsRestarted: a worker that stops beating is reported hung,
// killed, and restarted.
func TestHangIsRestarted(t *testing.T) {
	spec := supervision.Spec{Children: []supervision.ChildSpec{{
		Name: "h",
		Process: &procbridge.Spec{Worker: "stop-beating",
			Heartbeat: procbridge.Heartbeat{Interval: 5 * time.Millisecond, Timeout: 50 * time.Millisecond}},
	}}}
	_, rec := start(t, spec, supervision.Options{})
	hung := nextProcess[procbridge.Hung](t, rec, "root", "h")
	assert.ErrorIs(t, hung.Err, procbridge.ErrHung)
	exited := next[supervision.ChildExited](t, rec, "root", "h")
	require.NotNil(t, exited.Exited)
	assert.Equal(t, procbridge.ExitKilledHung, exited.Exited.Exit.Kind)
	restarting := next[supervision.ChildRestarting](t, rec, "root", "h")
	var he *procbridge.HangError
	assert.ErrorAs(t, restarting.Cause, &he)
	ready := next[supervision.ChildReady](t, rec, "root", "h")
	assert.Equal(t, 2, ready.Incarnation)
}

// TestAutoShutdown: with any_significant, a significant transient child
// that ends cleanly shuts its supervisor down; at the root, the tree ends
// without an error.
func TestAutoShutdown(t *testing.T) {
	spec := supervision.Spec{
		AutoShutdown: supervision.AnySignificant,
		Children: []supervision.ChildSpec{
			{Name: "keep", Process: proc("wait")},
			{Name: "job", Process: proc("exit-when-told", "0"), Restart: supervision.Transient, Significant: true},
		},
	}
	rec := newRecorder()
	tree, err := supervision.Start(ctxT(t), spec, supervision.Options{OnEvent: goOnWhenReady(rec.on, "job")})
	require.NoError(t, err)
	require.NoError(t, tree.Wait(ctxT(t)))
	var seq []string
	for _, ev := range rec.events() {
		switch e := ev.(type) {
		case supervision.ChildTerminated:
			seq = append(seq, "terminated "+e.Child)
		case supervision.ChildStopped:
			seq = append(seq, "stopped "+e.Child)
		}
	}
	assert.Equal(t, []string{"terminated job", "stopped keep"}, seq)
}

// TestNestedAutoShutdown: a nested supervisor that shuts itself down ends
// cleanly: as a transient child, it is not restarted.
func TestNestedAutoShutdown(t *testing.T) {
	inner := &supervision.Spec{
		AutoShutdown: supervision.AllSignificant,
		Children: []supervision.ChildSpec{
			{Name: "j1", Process: proc("exit-when-told", "0"), Restart: supervision.Temporary, Significant: true},
		},
	}
	spec := supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "keep", Process: proc("wait")},
		{Name: "jobs", Supervisor: inner, Restart: supervision.Transient},
	}}
	_, rec := start(t, spec, supervision.Options{}, "j1")
	exited := next[supervision.ChildExited](t, rec, "root", "jobs")
	assert.NoError(t, exited.Err)
	term := next[supervision.ChildTerminated](t, rec, "root", "jobs")
	assert.False(t, term.Removed)
}

// TestFailingChildNeverTakesDownTheProgram: even a root with no restarts
// allowed only ends its tree.
func TestFailingChildNeverTakesDownTheProgram(t *testing.T) {
	spec := supervision.Spec{
		Intensity: supervision.Intensity{MaxRestarts: supervision.NoRestarts},
		Children:  []supervision.ChildSpec{{Name: "c", Process: proc("crash")}},
	}
	tree, err := supervision.Start(ctxT(t), spec, supervision.Options{OnEvent: goOnWhenReady(nil, "c")})
	require.NoError(t, err)
	err = tree.Wait(ctxT(t))
	require.ErrorIs(t, err, supervision.ErrIntensity)
	var ee *supervision.EscalationError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 0, ee.MaxRestarts)
}

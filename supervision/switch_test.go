//go:build linux

package supervision_test

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
	"github.com/understudy/understudy/supervision"
)

func init() {
	// tally answers each command on its ring with the number of commands
	// answered so far, a count it commits: a spare that takes over counts
	// on from it. With an argument, a file, a spare started while that
	// file exists dies before it is ready (a replacement spare fails to
	// start, however often the group tries).
	worker.Register("tally", func(ctx context.Context, w *worker.Worker) error {
		if args := os.Args[1:]; len(args) > 0 && !w.Active() {
			if _, err := os.Stat(args[0]); err == nil {
				os.Exit(7)
			}
		}
		n, state, ok := testproc.ResumeCount(ctx, w)
		if !ok {
			return nil
		}
		buf := make([]byte, 64)
		for {
			if _, err := w.Recv(ctx, buf); err != nil {
				return nil
			}
			n++
			binary.LittleEndian.PutUint64(state, n)
			if errors.Is(w.Commit(state), worker.ErrFenced) {
				<-ctx.Done()
				return nil
			}
			if err := w.Reply([]byte(strconv.FormatUint(n, 10))); err != nil {
				return err
			}
		}
	})
}

func tallyChild(name string, args ...string) supervision.ChildSpec {
	return supervision.ChildSpec{
		Name:    name,
		Process: &procbridge.Spec{Worker: "tally", Args: args, StateSize: 8, RingSize: 4096},
		Standby: 1,
	}
}

// tally sends a command to the primary of g and returns its count.
func tally(t *testing.T, g *procbridge.Group) uint64 {
	t.Helper()
	require.NotNil(t, g)
	seg, _ := g.Primary().Segment()
	require.NoError(t, seg.Send([]byte("+")))
	buf := make([]byte, 64)
	n, err := seg.Recv(buf, deadline)
	require.NoError(t, err)
	v, err := strconv.ParseUint(string(buf[:n]), 10, 64)
	require.NoError(t, err)
	return v
}

// tallyTo counts up to n on child's primary.
func tallyTo(t *testing.T, s *supervision.Supervisor, child string, n uint64) supervision.ChildInfo {
	t.Helper()
	info, err := childOf(ctxT(t), s, child)
	require.NoError(t, err)
	for i := uint64(1); i <= n; i++ {
		require.Equal(t, i, tally(t, info.Group))
	}
	return info
}

// seen returns the first event since the from'th that matches, waiting
// for it if it has not come yet.
func seen(t *testing.T, rec *recorder, from int, what string, match func(supervision.Event) bool) supervision.Event {
	t.Helper()
	for {
		if evs := rec.events()[from:]; indexOf(evs, match) >= 0 {
			return evs[indexOf(evs, match)]
		}
		rec.wait(t, what, func(supervision.Event) bool { return true })
	}
}

// indexOf returns the index of the first event that matches, or -1.
func indexOf(evs []supervision.Event, match func(supervision.Event) bool) int {
	for i, ev := range evs {
		if match(ev) {
			return i
		}
	}
	return -1
}

// is matches an event of type T about child ("": any) and incarnation (0:
// any).
func is[T supervision.Event](child string, incarnation int) func(supervision.Event) bool {
	return func(ev supervision.Event) bool {
		_, ok := ev.(T)
		h := ev.EventHeader()
		return ok && (child == "" || h.Child == child) && (incarnation == 0 || h.Incarnation == incarnation)
	}
}

// TestOneForAllSwitchesStandbySiblings: under one-for-all, the crash of a
// plain child restarts it cold, and its hot-standby siblings fail over to
// their spares instead, each at its place in the start order; the spares
// count on from the committed state; the crash counts once against the
// intensity (1 here), so the switches do not make the supervisor give up,
// and a second crash does.
func TestOneForAllSwitchesStandbySiblings(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	spec := supervision.Spec{
		Strategy:  supervision.OneForAll,
		Intensity: supervision.Intensity{MaxRestarts: 1, Period: time.Minute},
		Children:  []supervision.ChildSpec{tallyChild("s1"), {Name: "plain", Process: proc("wait")}, tallyChild("s2")},
	}
	tree, rec := start(t, spec, supervision.Options{OnEvent: observe(t, reg), Logger: logger})
	root := tree.Supervisor()
	s1, s2 := tallyTo(t, root, "s1", 3), tallyTo(t, root, "s2", 2)
	spare1, spare2 := s1.Group.Spares()[0].Pid(), s2.Group.Spares()[0].Pid()
	plain := childPid(t, root, "plain")
	before := len(rec.events())

	require.NoError(t, syscall.Kill(plain, syscall.SIGKILL))
	cp1, p1 := nextPromoted(t, rec, "root", "s1")
	next[supervision.ChildReady](t, rec, "root", "plain")
	cp2, p2 := nextPromoted(t, rec, "root", "s2")
	for _, c := range []struct {
		cp    supervision.ChildProcess
		p     procbridge.Promoted
		info  supervision.ChildInfo
		spare int
		name  string
	}{{cp1, p1, s1, spare1, "s1"}, {cp2, p2, s2, spare2, "s2"}} {
		var xe *procbridge.ExitError
		assert.ErrorAs(t, c.cp.Cause, &xe, "%s: a switch the supervisor asked for, the sibling's crash its cause", c.name)
		assert.Nil(t, c.p.Cause, c.name)
		assert.Equal(t, c.info.Pid, c.p.From, c.name)
		assert.Equal(t, c.spare, c.p.To, "%s: its spare took over", c.name)
		assert.Equal(t, uint64(1), c.p.Epoch, c.name)
		assert.Equal(t, 1, c.cp.Restarts, c.name)
		assert.Equal(t, 1, c.cp.Incarnation, "%s: not restarted", c.name)
	}

	// In start order: s1 switched, plain back, then s2 switched.
	evs := rec.events()[before:]
	i1, ready, i2 := indexOf(evs, isProcess[procbridge.Promoted]("s1", 1)), indexOf(evs, is[supervision.ChildReady]("plain", 2)), indexOf(evs, isProcess[procbridge.Promoted]("s2", 1))
	assert.True(t, i1 < ready && ready < i2, "s1 switched (%d), plain ready (%d), s2 switched (%d)", i1, ready, i2)
	for _, ev := range evs {
		switch e := ev.(type) {
		case supervision.ChildRestarting:
			assert.Equal(t, "plain", e.Child, "only the crashed child restarts cold")
			assert.Equal(t, 1, e.Restarts)
		case supervision.ChildStopped:
			t.Errorf("a switched sibling was stopped: %+v", e)
		case supervision.GaveUp:
			t.Errorf("the switches counted against the intensity: %+v", e)
		}
	}

	// Once the replacement spares are ready the old primaries are gone;
	// the new primaries count on from the committed state.
	seen(t, rec, before, "a spare for s1", isProcess[procbridge.SpareReady]("s1", 1))
	seen(t, rec, before, "a spare for s2", isProcess[procbridge.SpareReady]("s2", 1))
	for _, c := range []struct {
		name string
		pid  int
		want uint64
	}{{"s1", p1.To, 4}, {"s2", p2.To, 3}} {
		info, err := childOf(ctxT(t), root, c.name)
		require.NoError(t, err)
		assert.Equal(t, c.pid, info.Pid, c.name)
		assert.Equal(t, c.pid, info.Group.Primary().Pid(), c.name)
		assert.Equal(t, 1, info.Incarnation, c.name)
		assert.Equal(t, 1, info.Restarts, c.name)
		assert.Equal(t, c.want, tally(t, info.Group), "%s counts on", c.name)
	}

	switches, _ := testproc.Sample(t, reg, "understudy_child_failovers_total", map[string]string{"supervisor": "root", "child": "s1", "kind": "switch"})
	assert.Equal(t, 1.0, switches)
	restarts, _ := testproc.Sample(t, reg, "understudy_child_restarts_total", map[string]string{"supervisor": "root", "child": "s2"})
	assert.Equal(t, 1.0, restarts)
	out := logs.String()
	assert.Contains(t, out, `level=INFO msg="spare took over" supervisor=root child=s1`)
	assert.Contains(t, out, "switched=true")

	// The crash counted once: a second one exceeds the intensity.
	require.NoError(t, syscall.Kill(childPid(t, root, "plain"), syscall.SIGKILL))
	err := tree.Wait(ctxT(t))
	var esc *supervision.EscalationError
	require.ErrorAs(t, err, &esc)
	assert.Equal(t, "plain", esc.Child)
}

// TestRestForOneSwitchesLaterSiblings: under rest-for-one only the
// siblings started after the crashed child are affected: a hot-standby one
// switches after the crashed child is ready again, a plain one restarts
// cold after that, and an earlier hot-standby sibling is left alone.
func TestRestForOneSwitchesLaterSiblings(t *testing.T) {
	spec := supervision.Spec{
		Strategy:  supervision.RestForOne,
		Intensity: supervision.Intensity{MaxRestarts: 1, Period: time.Minute},
		Children: []supervision.ChildSpec{
			tallyChild("early"), {Name: "plain", Process: proc("wait")}, tallyChild("late"), {Name: "tail", Process: proc("wait")},
		},
	}
	tree, rec := start(t, spec, supervision.Options{})
	root := tree.Supervisor()
	early, late := tallyTo(t, root, "early", 1), tallyTo(t, root, "late", 2)
	spare := late.Group.Spares()[0].Pid()
	before := len(rec.events())

	require.NoError(t, syscall.Kill(childPid(t, root, "plain"), syscall.SIGKILL))
	cp, p := nextPromoted(t, rec, "root", "late")
	next[supervision.ChildReady](t, rec, "root", "tail")
	assert.NotNil(t, cp.Cause, "a switch")
	assert.Equal(t, late.Pid, p.From)
	assert.Equal(t, spare, p.To)

	evs := rec.events()[before:]
	ready, switched, tail := indexOf(evs, is[supervision.ChildReady]("plain", 2)), indexOf(evs, isProcess[procbridge.Promoted]("late", 1)), indexOf(evs, is[supervision.ChildStarted]("tail", 2))
	assert.True(t, ready >= 0 && ready < switched && switched < tail, "plain ready (%d), late switched (%d), tail started (%d)", ready, switched, tail)
	for _, ev := range evs {
		h := ev.EventHeader()
		assert.NotEqual(t, "early", h.Child, "the earlier sibling is not affected: %T", ev)
		if e, ok := ev.(supervision.ChildRestarting); ok {
			assert.Contains(t, []string{"plain", "tail"}, e.Child)
		}
	}
	info, err := childOf(ctxT(t), root, "early")
	require.NoError(t, err)
	assert.Equal(t, early.Pid, info.Pid)
	assert.Zero(t, info.Restarts)
	seen(t, rec, before, "a spare for late", isProcess[procbridge.SpareReady]("late", 1))
	info, err = childOf(ctxT(t), root, "late")
	require.NoError(t, err)
	assert.Equal(t, uint64(3), tally(t, info.Group), "late counts on")
	assert.Equal(t, uint64(2), tally(t, early.Group), "early was never touched")
}

// TestSwitchAfterBackoff: when the failed child's restart waits out its
// backoff, the hot-standby sibling runs on meanwhile and is switched after
// the wait, once the failed child is back.
func TestSwitchAfterBackoff(t *testing.T) {
	plain := supervision.ChildSpec{Name: "plain", Process: proc("wait"), Backoff: supervision.Backoff{Initial: 50 * time.Millisecond}}
	spec := supervision.Spec{
		Strategy:  supervision.OneForAll,
		Intensity: supervision.Intensity{MaxRestarts: 2, Period: time.Minute},
		Children:  []supervision.ChildSpec{plain, tallyChild("hot")},
	}
	tree, rec := start(t, spec, supervision.Options{})
	root := tree.Supervisor()
	tallyTo(t, root, "hot", 2)
	before := len(rec.events())

	// The first crash restarts plain at once and switches hot.
	require.NoError(t, syscall.Kill(childPid(t, root, "plain"), syscall.SIGKILL))
	firstCP, first := nextPromoted(t, rec, "root", "hot")
	assert.NotNil(t, firstCP.Cause, "a switch")
	seen(t, rec, before, "a new spare for hot", isProcess[procbridge.SpareReady]("hot", 1))
	before = len(rec.events())

	// The second waits out plain's backoff; hot is switched after it.
	require.NoError(t, syscall.Kill(childPid(t, root, "plain"), syscall.SIGKILL))
	secondCP, second := nextPromoted(t, rec, "root", "hot")
	assert.NotNil(t, secondCP.Cause, "a switch")
	assert.Equal(t, first.To, second.From)
	assert.Equal(t, uint64(2), second.Epoch)
	assert.Equal(t, 2, secondCP.Restarts)
	evs := rec.events()[before:]
	backoff, ready, switched := indexOf(evs, isBackoff("plain")), indexOf(evs, is[supervision.ChildReady]("plain", 3)), indexOf(evs, isProcess[procbridge.Promoted]("hot", 1))
	assert.True(t, backoff >= 0 && backoff < ready && ready < switched, "plain backing off (%d), ready (%d), hot switched (%d)", backoff, ready, switched)
	assert.Equal(t, -1, indexOf(evs, is[supervision.GaveUp]("", 0)), "two crashes, two counted")
	seen(t, rec, before, "a new spare for hot", isProcess[procbridge.SpareReady]("hot", 1)) // the old primary is gone
	info, err := childOf(ctxT(t), root, "hot")
	require.NoError(t, err)
	assert.Equal(t, second.To, info.Pid)
	assert.Equal(t, uint64(3), tally(t, info.Group), "hot counts on")
}

// TestSwitchFallsBackToColdRestart: a hot-standby sibling with no spare
// ready when its turn comes (its spare was lost and the replacement failed
// to start) restarts cold instead, in its place, and says why.
func TestSwitchFallsBackToColdRestart(t *testing.T) {
	failSpares := filepath.Join(t.TempDir(), "fail-spares")
	spec := supervision.Spec{
		Strategy:  supervision.OneForAll,
		Intensity: supervision.Intensity{MaxRestarts: 1, Period: time.Minute},
		Children:  []supervision.ChildSpec{{Name: "plain", Process: proc("wait")}, tallyChild("hot", failSpares)},
	}
	tree, rec := start(t, spec, supervision.Options{OnEvent: func(ev supervision.Event) {
		if e, ok := ev.(supervision.ChildStopped); ok && e.Child == "hot" {
			os.Remove(failSpares) // before hot starts cold: its new spare lives
		}
	}})
	root := tree.Supervisor()
	hot := tallyTo(t, root, "hot", 1)
	sp := hot.Group.Spares()[0]
	spare := sp.Pid()
	_, lane := sp.Segment()
	require.NoError(t, os.WriteFile(failSpares, nil, 0o600)) // the replacements die

	require.NoError(t, syscall.Kill(spare, syscall.SIGKILL))
	lost := nextProcess[procbridge.SpareDown](t, rec, "root", "hot")
	assert.Equal(t, spare, lost.Pid)
	require.NotNil(t, lost.Exit, "a spare lost")
	assert.Equal(t, syscall.SIGKILL, lost.Exit.Signal)
	failed := nextProcess[procbridge.SpareDown](t, rec, "root", "hot")
	assert.Nil(t, failed.Exit, "a replacement that failed to start")
	assert.Equal(t, lane, failed.Lane)
	var xe *procbridge.ExitError
	assert.ErrorAs(t, failed.Err, &xe, "the replacement died before it was ready")
	assert.Empty(t, hot.Group.Spares())

	// It is stopped at its turn, then restarts as a cold-started sibling
	// would.
	require.NoError(t, syscall.Kill(childPid(t, root, "plain"), syscall.SIGKILL))
	stopped := next[supervision.ChildStopped](t, rec, "root", "hot")
	assert.Equal(t, hot.Pid, stopped.Pid)
	assert.Equal(t, "restart", stopped.Reason)
	r := next[supervision.ChildRestarting](t, rec, "root", "hot")
	assert.ErrorIs(t, r.NotSwitched, procbridge.ErrNoSpare)
	assert.ErrorAs(t, r.Cause, &xe, "the sibling's crash is the cause")
	assert.Equal(t, 1, r.Restarts)
	ready := next[supervision.ChildReady](t, rec, "root", "hot")
	assert.Equal(t, 2, ready.Incarnation)

	evs := rec.events()
	plainReady, stop := indexOf(evs, is[supervision.ChildReady]("plain", 2)), indexOf(evs, is[supervision.ChildStopped]("hot", 0))
	assert.True(t, plainReady >= 0 && plainReady < stop, "plain ready (%d) before hot is stopped (%d)", plainReady, stop)
	assert.Equal(t, -1, indexOf(evs, isProcess[procbridge.Promoted]("hot", 0)))
	assert.Equal(t, -1, indexOf(evs, is[supervision.GaveUp]("", 0)))
	info, err := childOf(ctxT(t), root, "hot")
	require.NoError(t, err)
	assert.Equal(t, ready.Ready.Pid, info.Pid)
	assert.Equal(t, 1, info.Restarts)
	assert.Equal(t, uint64(1), tally(t, info.Group), "a cold start begins from nothing")
}

// TestStandbyChildGroupAndSpareEvents: a hot-standby child's group is
// reachable through ChildInfo, and the loss and replacement of a parked
// spare are reported, without a failover or a restart.
func TestStandbyChildGroupAndSpareEvents(t *testing.T) {
	spec := supervision.Spec{Children: []supervision.ChildSpec{tallyChild("hot"), {Name: "plain", Process: proc("wait")}}}
	tree, rec := start(t, spec, supervision.Options{})
	root := tree.Supervisor()
	hot, err := childOf(ctxT(t), root, "hot")
	require.NoError(t, err)
	require.NotNil(t, hot.Group)
	assert.Equal(t, hot.Pid, hot.Group.Primary().Pid())
	require.Len(t, hot.Group.Spares(), 1)
	plain, err := childOf(ctxT(t), root, "plain")
	require.NoError(t, err)
	assert.Nil(t, plain.Group, "not a hot-standby child")

	sp := hot.Group.Spares()[0]
	_, lane := sp.Segment()
	require.NoError(t, syscall.Kill(sp.Pid(), syscall.SIGKILL))
	lost := nextProcess[procbridge.SpareDown](t, rec, "root", "hot")
	assert.Equal(t, sp.Pid(), lost.Pid)
	require.NotNil(t, lost.Exit, "a spare lost")
	assert.Equal(t, syscall.SIGKILL, lost.Exit.Signal)
	readyEv := rec.wait(t, "a spare for hot", isProcess[procbridge.SpareReady]("hot", 0)).(supervision.ChildProcess)
	ready := readyEv.Event.(procbridge.SpareReady)
	assert.NotEqual(t, sp.Pid(), ready.Pid)
	assert.NotEqual(t, hot.Pid, ready.Pid)
	assert.Equal(t, lane, ready.Lane)
	assert.Equal(t, 1, readyEv.Incarnation)

	info, err := childOf(ctxT(t), root, "hot")
	require.NoError(t, err)
	assert.Same(t, hot.Group, info.Group)
	assert.Equal(t, hot.Pid, info.Pid)
	assert.Zero(t, info.Restarts)
	require.Len(t, info.Group.Spares(), 1)
	assert.Equal(t, ready.Pid, info.Group.Spares()[0].Pid())
	for _, ev := range rec.events() {
		if _, ok := ev.(supervision.ChildRestarting); ok || isProcess[procbridge.Promoted]("", 0)(ev) {
			t.Errorf("a lost spare is not a failure of the child: %v", ev)
		}
	}
	assert.Equal(t, []int{ready.Pid}, info.Spares, "ChildInfo lists the parked spares")
}

//go:build linux

package supervision_test

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

func children(names ...string) []supervision.ChildSpec {
	out := make([]supervision.ChildSpec, len(names))
	for i, n := range names {
		out[i] = supervision.ChildSpec{Name: n, Process: proc("wait")}
	}
	return out
}

// TestStartAndStopOrder: children start in order, each ready before the
// next starts, and stop in reverse order, each gone before the next is
// stopped; nothing is left running.
func TestStartAndStopOrder(t *testing.T) {
	rec := newRecorder()
	tree, err := supervision.Start(ctxT(t), supervision.Spec{Children: children("a", "b", "c")}, supervision.Options{OnEvent: rec.on})
	require.NoError(t, err)

	var started []string
	var pids []int
	for _, ev := range rec.events() {
		switch e := ev.(type) {
		case supervision.ChildStarted:
			started = append(started, "started "+e.Child)
		case supervision.ChildReady:
			started = append(started, "ready "+e.Child)
			pids = append(pids, e.Ready.Pid)
		}
	}
	assert.Equal(t, []string{"started a", "ready a", "started b", "ready b", "started c", "ready c"}, started)

	n, err := tree.Supervisor().Count(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, supervision.Counts{Specs: 3, Active: 3, Workers: 3}, n)

	report, err := tree.Stop(ctxT(t))
	require.NoError(t, err)
	assert.Empty(t, report)
	require.NoError(t, tree.Wait(ctxT(t)))

	var stopped []string
	for _, ev := range rec.events() {
		if e, ok := ev.(supervision.ChildStopped); ok {
			stopped = append(stopped, e.Child)
			assert.Equal(t, "shutdown", e.Reason)
			assert.False(t, e.Killed || e.Late, "in time")
			require.NotNil(t, e.Exit)
			assert.Equal(t, procbridge.ExitStopped, e.Exit.Kind)
		}
	}
	assert.Equal(t, []string{"c", "b", "a"}, stopped)
	for _, pid := range pids {
		waitGone(t, pid)
	}
}

// TestShutdownOrderWithNestedSupervisors: a nested supervisor stops its own
// children, in reverse order, when its turn comes.
func TestShutdownOrderWithNestedSupervisors(t *testing.T) {
	spec := supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "a", Process: proc("wait")},
		{Name: "mid", Supervisor: &supervision.Spec{Children: children("x", "y")}},
		{Name: "b", Process: proc("wait")},
	}}
	tree, rec := start(t, spec, supervision.Options{})
	_, err := tree.Stop(ctxT(t))
	require.NoError(t, err)

	var order []string
	for _, ev := range rec.events() {
		switch e := ev.(type) {
		case supervision.ChildReady:
			order = append(order, "ready "+e.Supervisor+"/"+e.Child)
		case supervision.ChildStopped:
			order = append(order, "stopped "+e.Supervisor+"/"+e.Child)
		}
	}
	assert.Equal(t, []string{
		"ready root/a", "ready root/mid/x", "ready root/mid/y", "ready root/mid", "ready root/b",
		"stopped root/b", "stopped root/mid/y", "stopped root/mid/x", "stopped root/mid", "stopped root/a",
	}, order)
}

// TestOneForOne: a crash restarts only the child that crashed; its
// siblings keep running, untouched.
func TestOneForOne(t *testing.T) {
	tree, rec := start(t, supervision.Spec{Children: children("a", "b", "c")}, supervision.Options{})
	root := tree.Supervisor()
	a, b, c := childPid(t, root, "a"), childPid(t, root, "b"), childPid(t, root, "c")

	require.NoError(t, syscall.Kill(b, syscall.SIGKILL))
	exited := next[supervision.ChildExited](t, rec, "root", "b")
	require.NotNil(t, exited.Exited)
	assert.Equal(t, procbridge.ExitSignal, exited.Exited.Exit.Kind)
	assert.Equal(t, b, exited.Exited.Pid)
	var xe *procbridge.ExitError
	require.ErrorAs(t, exited.Err, &xe)
	restarting := next[supervision.ChildRestarting](t, rec, "root", "b")
	assert.Equal(t, 1, restarting.Restarts)
	assert.Equal(t, 1, restarting.Incarnation, "the incarnation that ended")
	assert.ErrorAs(t, restarting.Cause, &xe)
	started := next[supervision.ChildStarted](t, rec, "root", "b")
	assert.Equal(t, 2, started.Incarnation, "the new one")
	ready := next[supervision.ChildReady](t, rec, "root", "b")
	assert.Equal(t, 2, ready.Incarnation)
	assert.NotEqual(t, b, ready.Ready.Pid)

	assert.Equal(t, a, childPid(t, root, "a"))
	assert.Equal(t, c, childPid(t, root, "c"))
	info, err := childOf(ctxT(t), root, "b")
	require.NoError(t, err)
	assert.Equal(t, supervision.StateRunning, info.State)
	assert.Equal(t, 1, info.Restarts)
	assert.Equal(t, 2, info.Incarnation)
	require.NotNil(t, info.LastExit)
	assert.Equal(t, syscall.SIGKILL, info.LastExit.Signal)
	for _, ev := range rec.events() {
		if e, ok := ev.(supervision.ChildStopped); ok {
			t.Errorf("one_for_one stopped a sibling: %+v", e)
		}
	}
}

// TestOneForAll: a crash stops the other children in reverse start order,
// then starts all of them again in start order.
func TestOneForAll(t *testing.T) {
	tree, rec := start(t, supervision.Spec{Strategy: supervision.OneForAll, Children: children("a", "b", "c")}, supervision.Options{})
	root := tree.Supervisor()
	old := map[string]int{"a": childPid(t, root, "a"), "b": childPid(t, root, "b"), "c": childPid(t, root, "c")}

	before := len(rec.events())
	require.NoError(t, syscall.Kill(old["b"], syscall.SIGKILL))
	next[supervision.ChildReady](t, rec, "root", "c")

	var seq []string
	for _, ev := range rec.events()[before:] {
		seq = append(seq, kind(ev)+" "+ev.EventHeader().Child)
	}
	assert.Equal(t, []string{
		"dying b", "exited b",
		"stopped c", "stopped a",
		"restarting a", "restarting b", "restarting c",
		"started a", "ready a", "started b", "ready b", "started c", "ready c",
	}, seq)
	for name, pid := range old {
		assert.NotEqual(t, pid, childPid(t, root, name), name)
		waitGone(t, pid)
	}
}

// TestRestForOne: a crash restarts the child and those started after it.
func TestRestForOne(t *testing.T) {
	tree, rec := start(t, supervision.Spec{Strategy: supervision.RestForOne, Children: children("a", "b", "c")}, supervision.Options{})
	root := tree.Supervisor()
	a, b, c := childPid(t, root, "a"), childPid(t, root, "b"), childPid(t, root, "c")

	before := len(rec.events())
	require.NoError(t, syscall.Kill(b, syscall.SIGKILL))
	next[supervision.ChildReady](t, rec, "root", "c")

	var seq []string
	for _, ev := range rec.events()[before:] {
		seq = append(seq, kind(ev)+" "+ev.EventHeader().Child)
	}
	assert.Equal(t, []string{
		"dying b", "exited b", "stopped c",
		"restarting b", "restarting c",
		"started b", "ready b", "started c", "ready c",
	}, seq)
	assert.Equal(t, a, childPid(t, root, "a"))
	assert.NotEqual(t, b, childPid(t, root, "b"))
	assert.NotEqual(t, c, childPid(t, root, "c"))
}

func kind(ev supervision.Event) string {
	switch e := ev.(type) {
	case supervision.ChildStarted:
		return "started"
	case supervision.ChildReady:
		return "ready"
	case supervision.ChildExited:
		return "exited"
	case supervision.ChildProcess:
		switch e.Event.(type) {
		case procbridge.Hung:
			return "hung"
		case procbridge.Dying:
			return "dying"
		case procbridge.Promoted:
			return "promoted"
		case procbridge.SpareReady:
			return "spare-ready"
		case procbridge.SpareDown:
			return "spare-down"
		}
	case supervision.ChildRestarting:
		if e.Delay > 0 {
			return "restarting-after-backoff"
		}
		return "restarting"
	case supervision.ChildStopped:
		return "stopped"
	case supervision.GaveUp:
		return "gave-up"
	}
	return "?"
}

// TestRestartTypes: permanent children restart after any end, transient
// ones only after a failure, temporary ones never (and are removed).
func TestRestartTypes(t *testing.T) {
	tests := []struct {
		name      string
		restart   supervision.Restart
		code      string
		restarted bool
		removed   bool
	}{
		{"permanent after exit 0", supervision.Permanent, "0", true, false},
		{"permanent after exit 3", supervision.Permanent, "3", true, false},
		{"transient after exit 0", supervision.Transient, "0", false, false},
		{"transient after exit 3", supervision.Transient, "3", true, false},
		{"temporary after exit 0", supervision.Temporary, "0", false, true},
		{"temporary after exit 3", supervision.Temporary, "3", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := supervision.Spec{
				Intensity: supervision.Intensity{MaxRestarts: 100, Period: time.Minute},
				Children: []supervision.ChildSpec{
					{Name: "keep", Process: proc("wait")},
					// A second restart waits an hour: w runs at most twice.
					{Name: "w", Process: proc("exit-when-told", tt.code), Restart: tt.restart, Backoff: supervision.Backoff{Initial: time.Hour, Max: time.Hour}},
				},
			}
			tree, rec := start(t, spec, supervision.Options{}, "w")
			exited := next[supervision.ChildExited](t, rec, "root", "w")
			assert.Equal(t, tt.code != "0", exited.Err != nil, "failure")
			if tt.code == "0" {
				assert.Equal(t, procbridge.ExitClean, exited.Exited.Exit.Kind)
			} else {
				assert.Equal(t, 3, exited.Exited.Exit.Code)
			}
			decided := rec.wait(t, "a decision", func(ev supervision.Event) bool {
				switch ev.(type) {
				case supervision.ChildRestarting, supervision.ChildTerminated:
					return ev.EventHeader().Child == "w"
				}
				return false
			})
			if tt.restarted {
				require.IsType(t, supervision.ChildRestarting{}, decided)
				assert.Equal(t, 1, decided.(supervision.ChildRestarting).Restarts)
				next[supervision.ChildReady](t, rec, "root", "w")
				return
			}
			require.IsType(t, supervision.ChildTerminated{}, decided)
			assert.Equal(t, tt.removed, decided.(supervision.ChildTerminated).Removed)
			cs, err := tree.Supervisor().Children(ctxT(t))
			require.NoError(t, err)
			if tt.removed {
				require.Len(t, cs, 1)
				return
			}
			require.Len(t, cs, 2)
			assert.Equal(t, supervision.StateTerminated, cs[1].State)
			assert.Equal(t, 0, cs[1].Pid)
		})
	}
}

// TestRestartAfterStartFailure: a restarted child that dies before it is
// ready is one more failure, restarted in turn (it counts against the
// intensity), and the events say so in order.
func TestRestartAfterStartFailure(t *testing.T) {
	spec := supervision.Spec{
		Intensity: supervision.Intensity{MaxRestarts: 5, Period: time.Minute},
		Children: []supervision.ChildSpec{
			{Name: "f", Process: proc("flaky", t.TempDir()), Backoff: supervision.Backoff{Initial: -1}},
		},
	}
	rec := newRecorder()
	tree, err := supervision.Start(ctxT(t), spec, supervision.Options{OnEvent: goOnWhenReady(rec.on, "f")})
	require.NoError(t, err)
	defer func() { _, _ = tree.Stop(ctxT(t)) }()
	third := next[supervision.ChildReady](t, rec, "root", "f")
	for third.Incarnation < 3 {
		third = next[supervision.ChildReady](t, rec, "root", "f")
	}
	var seq []string
	for _, ev := range rec.events() {
		h := ev.EventHeader()
		line := fmt.Sprintf("%s %d", kind(ev), h.Incarnation)
		if e, ok := ev.(supervision.ChildExited); ok {
			line += " " + string(e.Exited.Exit.Kind)
		}
		seq = append(seq, line)
	}
	// ChildRestarting is about the incarnation that ended, ChildStarted
	// about the new one.
	assert.Equal(t, []string{
		"started 1", "ready 1", "dying 1", "exited 1 signal",
		"restarting 1", "started 2", "exited 2 not-ready",
		"restarting 2", "started 3", "ready 3",
	}, seq)
	info, err := childOf(ctxT(t), tree.Supervisor(), "f")
	require.NoError(t, err)
	assert.Equal(t, 2, info.Restarts)
	assert.Equal(t, 3, info.Incarnation)
	assert.Equal(t, procbridge.ExitNotReady, info.LastExit.Kind)
}

// TestStopRaisesProgram: while a tree stops, the supervising program's
// threads run at nice -20 (where it may raise them), and once Stop has
// returned they are back at the nice they had. It follows the threads in
// the default class at nice 0 before the stop, as long as they stay in
// that class (a thread raised to real time meanwhile is left out).
func TestStopRaisesProgram(t *testing.T) {
	may := make(chan bool)
	go func() {
		runtime.LockOSThread() // given back, in case it is the first thread, which never ends
		defer runtime.UnlockOSThread()
		err := unix.Setpriority(unix.PRIO_PROCESS, 0, -20)
		unix.Setpriority(unix.PRIO_PROCESS, 0, 0)
		may <- err == nil
	}()
	if !<-may {
		t.Skip("this process may not raise a thread to nice -20 (CAP_SYS_NICE)")
	}
	var mu sync.Mutex
	var followed []int
	// nices is the nice of each followed thread still in the default class.
	nices := func() map[int]int32 {
		out := map[int]int32{}
		for _, tid := range followed {
			if a, err := unix.SchedGetAttr(tid, 0); err == nil && a.Policy == unix.SCHED_NORMAL {
				out[tid] = a.Nice
			}
		}
		return out
	}
	var during []map[int]int32
	on := func(ev supervision.Event) {
		if _, ok := ev.(supervision.ChildStopped); ok {
			mu.Lock()
			during = append(during, nices())
			mu.Unlock()
		}
	}
	tree, err := supervision.Start(ctxT(t), supervision.Spec{Children: children("a", "b")}, supervision.Options{OnEvent: on})
	require.NoError(t, err)
	mu.Lock()
	linux.EachTask(os.Getpid(), func(tid int) {
		if a, err := unix.SchedGetAttr(tid, 0); err == nil && a.Policy == unix.SCHED_NORMAL && a.Nice == 0 {
			followed = append(followed, tid)
		}
	})
	n := len(followed)
	mu.Unlock()
	require.NotZero(t, n, "no thread of this program at nice 0")
	_, err = tree.Stop(ctxT(t))
	require.NoError(t, err)
	mu.Lock()
	looks, after := during, nices()
	mu.Unlock()
	require.Len(t, looks, 2, "a look as each child stopped")
	for _, look := range looks {
		for tid, nice := range look {
			assert.Equal(t, int32(-20), nice, "thread %d as a child stopped", tid)
		}
	}
	for tid, nice := range after {
		assert.Equal(t, int32(0), nice, "thread %d once the tree has stopped", tid)
	}
}

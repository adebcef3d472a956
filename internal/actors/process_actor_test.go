//go:build linux

package actors_test

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/actors"
	"github.com/understudy/understudy/procbridge"
)

func TestNewPropsRejectsBadInput(t *testing.T) {
	tests := []struct {
		name  string
		spec  procbridge.Spec
		opts  actors.Options
		field string
	}{
		{"no program", procbridge.Spec{}, actors.Options{}, "Path"},
		{"unknown worker", procbridge.Spec{Worker: "no-such-worker"}, actors.Options{}, "Worker"},
		{"negative grace", procbridge.Spec{Worker: "wait", StopGrace: -time.Second}, actors.Options{}, "StopGrace"},
		{"negative kill wait", procbridge.Spec{Worker: "wait"}, actors.Options{KillWait: -1}, "Options.KillWait"},
		{"negative incarnation", procbridge.Spec{Worker: "wait"}, actors.Options{Incarnation: -2}, "Options.Incarnation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props, _, err := actors.NewProps(tt.spec, tt.opts)
			require.Error(t, err)
			assert.Nil(t, props)
			assert.ErrorContains(t, err, tt.field)
		})
	}
	_, _, err := actors.NewProps(procbridge.Spec{Worker: "wait", StopGrace: -time.Second}, actors.Options{})
	var se *procbridge.SpecError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "StopGrace", se.Field)
}

// TestLifecycle starts a ProcessActor at the root, reads its status and
// stops it: the process is stopped, reaped, and reported.
func TestLifecycle(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	fds := openFds(t)

	props, _, err := actors.NewProps(procbridge.Spec{Worker: "wait"}, actors.Options{Observer: obs})
	require.NoError(t, err)
	pid, err := system.Root.SpawnNamed(props, "worker")
	require.NoError(t, err)

	ready := next[*actors.ProcessReady](t, notes)
	assert.Equal(t, pid.Id, ready.Actor.Id)
	assert.Equal(t, "wait", ready.Name)
	assert.Equal(t, 1, ready.Incarnation)
	assert.Positive(t, ready.Pid)
	assert.Positive(t, ready.SpawnToReady)

	st, err := actors.QueryStatus(ctxT(t), system, pid)
	require.NoError(t, err)
	assert.Equal(t, actors.StateRunning, st.State)
	assert.Equal(t, ready.Pid, st.Pid)
	assert.Equal(t, 1, st.Incarnation)
	assert.Equal(t, 0, st.Restarts)
	assert.Nil(t, st.LastExit)
	assert.False(t, st.Since.IsZero())

	require.NoError(t, system.Root.StopFuture(pid).Wait())
	exited := next[*actors.ProcessExited](t, notes)
	assert.Equal(t, procbridge.ExitStopped, exited.Exit.Kind)
	assert.NoError(t, exited.Err)
	assert.Equal(t, ready.Pid, exited.Pid)
	waitGone(t, ready.Pid)

	_, err = actors.QueryStatus(ctxT(t), system, pid)
	assert.ErrorIs(t, err, actors.ErrNoActor)
	// The segment, pidfd and pipes of the process are closed; the shared
	// lifeline and /dev/null of procbridge were open before.
	assert.LessOrEqual(t, openFds(t), fds)
}

// failingParent is a plain protoactor parent, not one of ours: it spawns a
// ProcessActor, reports each failure's reason and restarts the child.
type failingParent struct {
	props    *actor.Props
	failures chan<- any
	ended    chan<- *actor.Terminated
}

func (p *failingParent) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		if _, err := c.SpawnNamed(p.props, "worker"); err != nil {
			panic(err)
		}
	case *actor.Terminated:
		p.ended <- m
	}
}

func (p *failingParent) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	p.failures <- reason
	sup.RestartChildren(child)
}

func spawnParent(t *testing.T, system *actor.ActorSystem, spec procbridge.Spec, opts actors.Options) (*actor.PID, <-chan any, <-chan *actor.Terminated) {
	t.Helper()
	props, _, err := actors.NewProps(spec, opts)
	require.NoError(t, err)
	failures := make(chan any, 16)
	ended := make(chan *actor.Terminated, 16)
	parent, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &failingParent{props: props, failures: failures, ended: ended}
	}), "parent"+system.ProcessRegistry.NextId())
	require.NoError(t, err)
	t.Cleanup(func() { _ = system.Root.StopFuture(parent).Wait() })
	return parent, failures, ended
}

// TestForeignParentSupervisesCrash: a crash fails the actor with the typed
// *procbridge.ExitError; the plain parent restarts it, and a new process
// runs under the same PID.
func TestForeignParentSupervisesCrash(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	parent, failures, _ := spawnParent(t, system, procbridge.Spec{Worker: "wait"}, actors.Options{Observer: obs})
	child := actor.NewPID(system.Address(), parent.Id+"/worker")

	first := next[*actors.ProcessReady](t, notes)
	require.NoError(t, syscall.Kill(first.Pid, syscall.SIGKILL))

	exited := next[*actors.ProcessExited](t, notes)
	assert.Equal(t, procbridge.ExitSignal, exited.Exit.Kind)
	reason := recv(t, failures)
	err, ok := reason.(error)
	require.True(t, ok, "reason %T is an error", reason)
	var xe *procbridge.ExitError
	require.ErrorAs(t, err, &xe)
	assert.Equal(t, syscall.SIGKILL, xe.Exit.Signal)
	assert.Equal(t, first.Pid, xe.Pid)

	second := next[*actors.ProcessReady](t, notes)
	assert.Equal(t, 2, second.Incarnation)
	assert.NotEqual(t, first.Pid, second.Pid)
	assert.Equal(t, child.Id, second.Actor.Id)

	st, err := actors.QueryStatus(ctxT(t), system, child)
	require.NoError(t, err)
	assert.Equal(t, actors.StateRunning, st.State)
	assert.Equal(t, 2, st.Incarnation)
	assert.Equal(t, 1, st.Restarts)
	assert.Equal(t, second.Pid, st.Pid)
	require.NotNil(t, st.LastExit)
	assert.Equal(t, procbridge.ExitSignal, st.LastExit.Kind)
	assert.ErrorAs(t, st.LastErr, &xe)
}

// TestForeignParentSupervisesHang: a hang fails the actor with the typed
// *procbridge.HangError, and the hung process is gone once the actor
// restarted.
func TestForeignParentSupervisesHang(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	spec := procbridge.Spec{
		Worker:    "stop-beating",
		Heartbeat: procbridge.Heartbeat{Interval: 5 * time.Millisecond, Timeout: 50 * time.Millisecond},
		StopGrace: 100 * time.Millisecond, // the worker ignores SIGTERM
	}
	_, failures, _ := spawnParent(t, system, spec, actors.Options{Observer: obs})

	first := next[*actors.ProcessReady](t, notes)
	hung := next[*actors.ProcessHung](t, notes)
	assert.Equal(t, first.Pid, hung.Pid)
	reason := recv(t, failures)
	var he *procbridge.HangError
	require.True(t, errors.As(reason.(error), &he), "reason %T", reason)
	assert.ErrorIs(t, he, procbridge.ErrHung)
	assert.Equal(t, first.Pid, he.Pid)

	// The restart stops what is left of the hung process and reports it.
	exited := next[*actors.ProcessExited](t, notes)
	assert.Equal(t, first.Pid, exited.Pid)
	assert.Equal(t, procbridge.ExitKilledHung, exited.Exit.Kind)
	waitGone(t, first.Pid)
	second := next[*actors.ProcessReady](t, notes)
	assert.Equal(t, 2, second.Incarnation)
}

// TestHangWhileStopping: a worker called hung and killed in the moment
// between its actor's stop and the stop's signal ends with its hang told
// first, then its end, killed for the hang: never an end that names a
// verdict nobody was told of.
func TestHangWhileStopping(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	hold := func(name string, p *procbridge.Process) {
		if name == "hangs-in-stop" {
			select { // the monitor's verdict kills it meanwhile
			case <-p.Done():
			case <-time.After(deadline):
			}
		}
	}
	actors.HoldStop.Store(&hold)
	t.Cleanup(func() { actors.HoldStop.Store(nil) })
	props, _, err := actors.NewProps(procbridge.Spec{
		Name:      "hangs-in-stop",
		Worker:    "stop-beating",
		Heartbeat: procbridge.Heartbeat{Interval: 5 * time.Millisecond, Timeout: 50 * time.Millisecond},
	}, actors.Options{Observer: obs})
	require.NoError(t, err)
	pid, err := system.Root.SpawnNamed(props, "stopped")
	require.NoError(t, err)
	ready := next[*actors.ProcessReady](t, notes)
	require.NoError(t, system.Root.StopFuture(pid).Wait())
	n := recv(t, notes)
	hung, ok := n.(*actors.ProcessHung)
	require.True(t, ok, "after Ready, want the hang, got %T: %v", n, n)
	assert.Equal(t, ready.Pid, hung.Pid)
	exited := next[*actors.ProcessExited](t, notes)
	assert.Equal(t, procbridge.ExitKilledHung, exited.Exit.Kind)
}

// TestForeignBuiltInStrategy: protoactor's own OneForOne strategy, given
// with WithSupervisor, restarts a crashed ProcessActor too.
func TestForeignBuiltInStrategy(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	props, _, err := actors.NewProps(procbridge.Spec{Worker: "wait"}, actors.Options{Observer: obs})
	require.NoError(t, err)
	parent, err := system.Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*actor.Started); ok {
			_, _ = c.SpawnNamed(props, "worker")
		}
	}, actor.WithSupervisor(actor.NewOneForOneStrategy(10, time.Minute, actor.DefaultDecider))), "builtin")
	require.NoError(t, err)
	defer func() { _ = system.Root.StopFuture(parent).Wait() }()

	first := next[*actors.ProcessReady](t, notes)
	require.NoError(t, syscall.Kill(first.Pid, syscall.SIGKILL))
	second := next[*actors.ProcessReady](t, notes)
	assert.Equal(t, 2, second.Incarnation)
	assert.NotEqual(t, first.Pid, second.Pid)
}

// TestCleanExitStopsTheActor: exit status 0 is not a failure: the actor
// stops and the parent sees Terminated.
func TestCleanExitStopsTheActor(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	_, failures, ended := spawnParent(t, system, procbridge.Spec{Worker: "exit-when-told", Args: []string{"0"}}, actors.Options{Observer: obs})
	ready := next[*actors.ProcessReady](t, notes)
	require.NoError(t, syscall.Kill(ready.Pid, syscall.SIGUSR1))

	exited := next[*actors.ProcessExited](t, notes)
	assert.Equal(t, procbridge.ExitClean, exited.Exit.Kind)
	assert.NoError(t, exited.Err)
	term := recv(t, ended)
	assert.Contains(t, term.Who.Id, "/worker")
	select {
	case r := <-failures:
		t.Fatalf("a clean exit failed the actor: %v", r)
	default:
	}
}

// TestExitCodeIsAFailure: a non-zero exit fails the actor with its code.
func TestExitCodeIsAFailure(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	_, failures, _ := spawnParent(t, system, procbridge.Spec{Worker: "exit-when-told", Args: []string{"3"}}, actors.Options{Observer: obs})
	ready := next[*actors.ProcessReady](t, notes)
	require.NoError(t, syscall.Kill(ready.Pid, syscall.SIGUSR1))
	var xe *procbridge.ExitError
	require.ErrorAs(t, recv(t, failures).(error), &xe)
	assert.Equal(t, procbridge.ExitCode, xe.Exit.Kind)
	assert.Equal(t, 3, xe.Exit.Code)
}

// TestStartFailureIsAFailure: a worker that dies before it is ready fails
// the actor with the start error, which wraps the exit.
func TestStartFailureIsAFailure(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	_, failures, _ := spawnParent(t, system, procbridge.Spec{Worker: "die-before-ready"}, actors.Options{Observer: obs})
	failed := next[*actors.ProcessStartFailed](t, notes)
	assert.ErrorIs(t, failed.Err, procbridge.ErrExitedBeforeReady)
	err := recv(t, failures).(error)
	assert.ErrorIs(t, err, procbridge.ErrExitedBeforeReady)
	var xe *procbridge.ExitError
	require.ErrorAs(t, err, &xe)
	assert.Equal(t, 5, xe.Exit.Code)
}

// TestStopKillsAfterGrace: a worker that ignores SIGTERM is killed when
// the spec's grace ends, and the actor stops.
func TestStopKillsAfterGrace(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	props, _, err := actors.NewProps(procbridge.Spec{Worker: "ignore-sigterm", StopGrace: 100 * time.Millisecond}, actors.Options{Observer: obs})
	require.NoError(t, err)
	pid, err := system.Root.SpawnNamed(props, "stubborn")
	require.NoError(t, err)
	ready := next[*actors.ProcessReady](t, notes)

	began := time.Now()
	require.NoError(t, system.Root.StopFuture(pid).Wait())
	assert.GreaterOrEqual(t, time.Since(began), 100*time.Millisecond, "waited for the grace")
	exited := next[*actors.ProcessExited](t, notes)
	assert.Equal(t, procbridge.ExitStopped, exited.Exit.Kind)
	assert.Equal(t, syscall.SIGKILL, exited.Exit.Signal)
	waitGone(t, ready.Pid)
}

// TestKillOption: with Options.Kill the process gets SIGKILL at once.
func TestKillOption(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	props, _, err := actors.NewProps(procbridge.Spec{Worker: "ignore-sigterm", StopGrace: time.Hour}, actors.Options{Observer: obs, Kill: true})
	require.NoError(t, err)
	pid, err := system.Root.SpawnNamed(props, "brutal")
	require.NoError(t, err)
	next[*actors.ProcessReady](t, notes)
	require.NoError(t, system.Root.StopFuture(pid).Wait())
	exited := next[*actors.ProcessExited](t, notes)
	assert.Equal(t, syscall.SIGKILL, exited.Exit.Signal)
}

// TestStopWhileStarting: stopping an actor whose worker never gets ready
// abandons the start at once and leaves no process behind.
func TestStopWhileStarting(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	props, _, err := actors.NewProps(procbridge.Spec{Worker: "never-ready", ReadyTimeout: time.Hour}, actors.Options{Observer: obs, Incarnation: 7})
	require.NoError(t, err)
	pid, err := system.Root.SpawnNamed(props, "slow")
	require.NoError(t, err)
	st, err := actors.QueryStatus(ctxT(t), system, pid)
	require.NoError(t, err)
	assert.Equal(t, actors.StateStarting, st.State)
	assert.Equal(t, 7, st.Incarnation)
	assert.Equal(t, 6, st.Restarts)
	require.NoError(t, system.Root.StopFuture(pid).Wait())
	select {
	case n := <-notes:
		t.Fatalf("a cancelled start reported %T", n)
	default:
	}
}

// TestManyRestartsLeakNothing restarts one actor many times under a plain
// parent and checks that no descriptor is left open (goroutines are
// checked by goleak when the package's tests end).
func TestManyRestartsLeakNothing(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	_, failures, _ := spawnParent(t, system, procbridge.Spec{Worker: "wait"}, actors.Options{Observer: obs})
	ready := next[*actors.ProcessReady](t, notes)
	fds := openFds(t)
	const n = 50
	for i := range n {
		require.NoError(t, syscall.Kill(ready.Pid, syscall.SIGKILL))
		recv(t, failures)
		ready = next[*actors.ProcessReady](t, notes)
		require.Equal(t, i+2, ready.Incarnation)
	}
	assert.LessOrEqual(t, openFds(t), fds)
}

// aheadParent restarts its ProcessActor child ahead: it is the child's
// observer, and starts the next process when it knows of a failed exit,
// from the notification, before it restarts (or, with stop set, stops) the
// actor. The failure may reach it before the notification does; the restart
// then waits for the notification.
type aheadParent struct {
	spec    procbridge.Spec
	stop    bool
	notes   chan<- actors.Notification
	ahead   chan<- int
	r       *actors.Restarter
	child   *actor.PID
	exited  bool       // the failed exit was notified
	pending *actor.PID // a failed child waiting for that
}

func (p *aheadParent) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		props, r, err := actors.NewProps(p.spec, actors.Options{Observer: c.Self()})
		if err != nil {
			panic(err)
		}
		p.r = r
		if p.child, err = c.SpawnNamed(props, "worker"); err != nil {
			panic(err)
		}
	case *actors.ProcessExited:
		p.notes <- m
		if m.Err == nil || p.exited {
			return
		}
		p.exited = true
		inc, ok := p.r.StartNext(p.child)
		if !ok {
			panic("StartNext refused")
		}
		p.ahead <- inc
		if _, again := p.r.StartNext(p.child); again {
			panic("started ahead twice")
		}
		if p.pending != nil {
			p.decide(c.(actor.Supervisor), p.pending)
		}
	case actors.Notification:
		p.notes <- m
	}
}

func (p *aheadParent) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, _, _ any) {
	if !p.exited {
		p.pending = child
		return
	}
	p.decide(sup, child)
}

func (p *aheadParent) decide(sup actor.Supervisor, child *actor.PID) {
	p.pending = nil
	if p.stop {
		sup.StopChildren(child)
		return
	}
	sup.RestartChildren(child)
}

// TestRestarterStartsAhead: a parent that hears of the exit first starts
// the next process at once; the restarted actor adopts it.
func TestRestarterStartsAhead(t *testing.T) {
	system := quietSystem()
	notes := make(chan actors.Notification, 64)
	ahead := make(chan int, 4)
	parent, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &aheadParent{spec: procbridge.Spec{Worker: "wait"}, notes: notes, ahead: ahead}
	}), "ahead")
	require.NoError(t, err)
	defer func() { _ = system.Root.StopFuture(parent).Wait() }()

	first := next[*actors.ProcessReady](t, notes)
	_, refused := (&actors.Restarter{}).StartNext(first.Actor)
	assert.False(t, refused, "a Restarter of other props knows nothing of the actor")
	require.NoError(t, syscall.Kill(first.Pid, syscall.SIGKILL))
	assert.Equal(t, 2, recv(t, ahead))
	second := next[*actors.ProcessReady](t, notes)
	assert.Equal(t, 2, second.Incarnation)
	assert.NotEqual(t, first.Pid, second.Pid)

	st, err := actors.QueryStatus(ctxT(t), system, second.Actor)
	require.NoError(t, err)
	assert.Equal(t, actors.StateRunning, st.State)
	assert.Equal(t, 2, st.Incarnation)
	assert.Equal(t, second.Pid, st.Pid)
}

// TestRestarterStoppedInstead: a process started ahead is stopped with the
// actor when the parent stops the actor instead of restarting it.
func TestRestarterStoppedInstead(t *testing.T) {
	system := quietSystem()
	fds := openFds(t)
	notes := make(chan actors.Notification, 64)
	ahead := make(chan int, 4)
	parent, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &aheadParent{spec: procbridge.Spec{Worker: "wait"}, stop: true, notes: notes, ahead: ahead}
	}), "ahead-stop")
	require.NoError(t, err)
	first := next[*actors.ProcessReady](t, notes)
	require.NoError(t, syscall.Kill(first.Pid, syscall.SIGKILL))
	assert.Equal(t, 2, recv(t, ahead))
	require.NoError(t, system.Root.StopFuture(parent).Wait())
	for {
		select {
		case n := <-notes:
			if r, ok := n.(*actors.ProcessReady); ok && r.Incarnation == 2 {
				waitGone(t, r.Pid)
			}
			continue
		default:
		}
		break
	}
	assert.LessOrEqual(t, openFds(t), fds)
}

// TestStatusHeartbeatAge: the status of a beating worker says how long ago
// it beat.
func TestStatusHeartbeatAge(t *testing.T) {
	system := quietSystem()
	obs, notes := observer(t, system)
	spec := procbridge.Spec{Worker: "beat", Heartbeat: procbridge.Heartbeat{Interval: 5 * time.Millisecond, Timeout: 5 * time.Second}}
	props, _, err := actors.NewProps(spec, actors.Options{Observer: obs})
	require.NoError(t, err)
	pid, err := system.Root.SpawnNamed(props, "beating")
	require.NoError(t, err)
	defer func() { _ = system.Root.StopFuture(pid).Wait() }()
	next[*actors.ProcessReady](t, notes)
	st, err := actors.QueryStatus(ctxT(t), system, pid)
	require.NoError(t, err)
	assert.Equal(t, actors.StateRunning, st.State)
	assert.Positive(t, st.HeartbeatAge)
	assert.Less(t, st.HeartbeatAge, spec.Heartbeat.Timeout, "it would have been called hung")
}

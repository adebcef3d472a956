package supervision

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/internal/actors"
	"github.com/understudy/understudy/procbridge"
)

// child is a supervisor's record of one child: its spec and what it is
// doing now. Only the supervisor's actor touches it.
type child struct {
	spec    ChildSpec
	name    string
	kind    childKind
	label   string // for metrics: the name, or a simple_one_for_one template's
	dynamic bool   // started from a simple_one_for_one template
	order   uint64 // its place in the supervisor's start order (supervisor.add)
	removed bool   // no longer among the supervisor's children
	runner  runner
	node    string // the node a remote child runs on, or last ran on
	nodeInc int    // the incarnation that ran on node

	state       ChildState
	actor       *actor.PID // while an actor exists for it
	incarnation int        // of the current or last actor
	restarts    int
	pid         int       // OS pid of the running process
	upSince     time.Time // when the current incarnation became ready
	lastExit    *procbridge.Exit
	lastErr     error
	backoff     *backoffState

	proc    *procbridge.Process // the running process (a group's primary), while known
	group   *procbridge.Group   // the hot-standby group of the current incarnation
	failed  bool                // the current actor failed (HandleFailure)
	stop    *stopInfo           // set once the current actor was asked to stop
	pending uint64              // token of the restart it waits for; 0: none

	// A hot-standby sibling that a restart switches to a spare instead of
	// restarting it cold (see switchStep) keeps running until its turn.
	switching   uint64 // token of the restart that switches it; 0: none
	switchCause error  // that restart's cause, the sibling's failure
	switchAsked uint64 // token of the SwitchRequest in flight, until its ProcessPromoted

	// After a restart in place (see restartInPlace), the events of the
	// restart wait in held until the previous incarnation's end has been
	// reported, so that events keep their order.
	held      []Event
	endingInc int // the incarnation whose end is awaited

	readied  bool         // the current incarnation was ready (its start succeeded)
	endSeen  bool         // the current process's end (or hang) was notified
	deferred *childFailed // a failure waiting for that notification

	restarter *actors.Restarter // of a process child's current actor
	ahead     bool              // its next process was started ahead (restartAhead)
	pre       *decision         // a decision made ahead, for HandleFailure
}

// stopInfo follows one stop of a child's actor until it is gone.
type stopInfo struct {
	reason  string // stopForRestart, stopTerminate or stopShutdown
	failure bool   // stopped because it failed: reported by ChildExited, not ChildStopped
	began   time.Time
	timer   *timerFired
	late    bool // its bound passed; the supervisor went on
	stuck   bool // the process actor reported its process not reaped
	exit    *procbridge.Exit
	pid     int
}

func newChild(spec ChildSpec) *child {
	spec.Restart = spec.Restart.orDefault()
	c := &child{spec: spec, name: spec.Name, label: spec.Name, state: StateTerminated}
	c.backoff = &backoffState{policy: spec.Backoff} // validated with the spec
	switch {
	case len(spec.Nodes) > 0:
		// A remote subtree too: to its supervisor, one process on a node.
		c.kind, c.runner = kindProcess, remoteRunner{}
	case spec.Supervisor != nil:
		c.kind, c.runner = kindSupervisor, supervisorRunner{}
	default:
		c.kind, c.runner = kindProcess, processRunner{}
	}
	return c
}

// alive reports whether the child runs or is to run again: it has an
// actor, or waits for a restart.
func (c *child) alive() bool { return c.actor != nil || c.pending != 0 }

func (c *child) info() ChildInfo {
	ci := ChildInfo{
		Name:        c.name,
		Supervisor:  c.kind == kindSupervisor,
		State:       c.state,
		Pid:         c.pid,
		Incarnation: c.incarnation,
		Restarts:    c.restarts,
		Restart:     c.spec.Restart,
		Significant: c.spec.Significant,
		Since:       c.upSince,
		LastExit:    c.lastExit,
		LastErr:     c.lastErr,
		Group:       c.group,
		Node:        c.node,
	}
	if c.state == StateRunning && c.proc != nil {
		ci.HeartbeatAge = c.proc.HeartbeatAge()
	}
	if c.group != nil {
		for _, p := range c.group.Spares() {
			ci.Spares = append(ci.Spares, p.Pid())
		}
	}
	return ci
}

// ChildInfo is what a supervisor reports about one child
// (Supervisor.Children, OTP's which_children).
type ChildInfo struct {
	Name string
	// Supervisor: the child is a nested supervisor (Tree.Supervisor
	// reaches it), not a process.
	Supervisor bool
	State      ChildState
	// Pid is the OS pid of the child's process while it runs (0 for a
	// supervisor, or when not running): for a hot-standby child, its
	// primary's.
	Pid int
	// Spares are the pids of a hot-standby child's parked spares.
	Spares      []int
	Incarnation int // 1 for the first start, one more per restart
	// Restarts counts the child's restarts, and, for a hot-standby child,
	// its failovers and switches to a spare (which leave Incarnation as
	// it is).
	Restarts    int
	Restart     Restart
	Significant bool
	// Since is when the current incarnation became ready, on the tree's
	// Clock (zero while it is not running); a failover moves it on.
	Since time.Time
	// HeartbeatAge is the time since the child's process last beat (since
	// it was ready, when it never beat; 0 when it is not running).
	HeartbeatAge time.Duration
	// LastExit is how the child's last process ended (nil before any
	// did); LastErr the last failure (a *procbridge.ExitError,
	// *procbridge.HangError, a nested *EscalationError, ...).
	LastExit *procbridge.Exit
	LastErr  error
	// Group is the hot-standby group of a child with ChildSpec.Standby
	// (nil for other children, and while the child is not running): its
	// Primary is the process Pid names (the group knows of a failover a
	// moment before the supervisor reports it), its Spares the parked
	// spares, its primary's Segment the shared state and command rings.
	// It belongs to the child: read it, do not Stop it. A Switch made on
	// it directly counts against the intensity like a failover.
	Group *procbridge.Group
	// Node is the node a remote child (ChildSpec.Nodes) runs on, or last
	// ran on; empty for a child of this machine.
	Node string
}

// Counts is OTP's count_children (Supervisor.Count). A simple_one_for_one
// supervisor has one spec, its template; its Supervisors or Workers count
// its dynamic children.
type Counts struct {
	Specs       int // children the supervisor knows
	Active      int // children running (ready, not being stopped or restarted)
	Supervisors int // nested supervisors among the children
	Workers     int // processes among the children
}

// runner brings one incarnation of a child up and down. The supervisor
// calls it, and nothing else, to start and stop a child: it is the seam
// where hot standby replaces a cold start with the promotion of a
// pre-warmed spare. start spawns the child's actor under the supervisor;
// the actor then tells the supervisor it is ready (actors.ProcessReady or
// supervisorReady) or fails. stop asks the actor to stop; the supervisor
// then waits for its *actor.Terminated.
type runner interface {
	start(ctx actor.Context, s *supervisor, c *child) (*actor.PID, error)
	stop(ctx actor.Context, s *supervisor, c *child)
}

// processRunner runs a child process as an actors.ProcessActor.
type processRunner struct{}

func (processRunner) start(ctx actor.Context, s *supervisor, c *child) (*actor.PID, error) {
	spec := *c.spec.Process
	if spec.Name == "" {
		spec.Name = c.name
	}
	kill := c.spec.Shutdown == BrutalKill
	if !kill {
		spec.StopGrace = c.spec.stopGrace()
	}
	spec.Stdout = s.sh.lines(spec.Stdout, s.path, c.name, "stdout")
	spec.Stderr = s.sh.lines(spec.Stderr, s.path, c.name, "stderr")
	props, restarter, err := actors.NewProps(spec, actors.Options{
		Observer:    ctx.Self(),
		Kill:        kill,
		KillWait:    killWait,
		Incarnation: c.incarnation,
		Standby:     c.spec.Standby,
		Tracker:     s.sh.procs,
	})
	if err != nil {
		return nil, err
	}
	c.restarter = restarter
	return ctx.SpawnNamed(props, c.name)
}

func (processRunner) stop(ctx actor.Context, _ *supervisor, c *child) { ctx.Stop(c.actor) }

// supervisorRunner runs a nested supervisor.
type supervisorRunner struct{}

func (supervisorRunner) start(ctx actor.Context, s *supervisor, c *child) (*actor.PID, error) {
	spec, path, sh, inc := *c.spec.Supervisor, s.path+"/"+c.name, s.sh, c.incarnation
	props := actor.PropsFromProducer(func() actor.Actor { return newSupervisor(spec, path, sh, nil, inc) })
	return ctx.SpawnNamed(props, c.name)
}

// stop asks a nested supervisor to shut down in order. One that failed is
// suspended and reads no messages (it has stopped its children already, when
// it escalated): it gets protoactor's Stop.
func (supervisorRunner) stop(ctx actor.Context, _ *supervisor, c *child) {
	if c.failed {
		ctx.Stop(c.actor)
		return
	}
	ctx.Send(c.actor, &shutdownRequest{})
}

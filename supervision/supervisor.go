package supervision

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/internal/actors"
	"github.com/understudy/understudy/procbridge"
)

// supervisor is the actor of one supervisor of a tree. It is its children's
// protoactor parent and implements actor.SupervisorStrategy itself, so
// protoactor hands it its children's failures (HandleFailure) on its own
// mailbox goroutine, serialized with Receive. It never hands a decision back
// to protoactor's strategies.
//
// A failure is decided in one of three ways, the fastest that applies:
//
//   - restartAhead: the exit notification of a failed process reaches the
//     supervisor before the actor's failure; an idle one_for_one
//     supervisor decides then and starts the replacement process at once.
//   - restartInPlace: the same decision, in HandleFailure (a hang, a failed
//     start, or a failure that overtook its notification); protoactor
//     restarts the actor, which starts a new process.
//   - the job queue, for everything else (other strategies, backoff,
//     nested supervisors, a busy supervisor): the failed child is stopped,
//     and the failure is re-posted to the supervisor's own user queue and
//     decided in turn with its other work.
//
// Events keep their order on every path: what a fast path decides before
// the failed incarnation's end was reported waits (held) until it is, and a
// re-posted failure or *actor.Terminated waits for the notifications the
// child sent before it.
type supervisor struct {
	spec        Spec
	path        string
	sh          *shared
	tree        *Tree // set for the root of a tree
	incarnation int   // given by the parent, echoed in supervisorReady

	self     *actor.PID
	children []*child          // in start order
	byActor  map[string]*child // actor id → child, while the actor exists

	intensity *intensityTracker
	jobs      []*job
	lanes     map[*child]*job // one_for_one and simple_one_for_one children's own work (lanes.go)
	laneOrder []*child        // the children with a lane, in start order (pumpLanes, reused)
	added     uint64          // children ever added (child.order)
	cur       *job            // the job whose step is running
	phase     phase
	why       shutdownCause
	reason    error // the escalation, when why is causeEscalate
	tokens    uint64
	seq       int                         // names of simple_one_for_one children
	timers    map[*timerFired]func() bool // pending timers, and how to cancel each
}

type phase int

const (
	phaseStarting     phase = iota // starting the children, in order
	phaseRunning                   // all started once
	phaseShuttingDown              // stopping the children, then itself
	phaseDone                      // stopped, or failed to its parent
)

type shutdownCause int

const (
	causeRequested shutdownCause = iota // Tree.Stop, or its parent stops it
	causeAuto                           // AutoShutdown after significant children ended
	causeEscalate                       // gave up: escalate when the children are stopped
)

// Messages a supervisor sends itself or its parent. None is worth a
// dead-letter log line: a late one after a stop is expected.
type (
	childFailed struct {
		id          string
		incarnation int
		reason      any
		pre         *decision // already decided in HandleFailure
	}
	childGone       struct{ id string }
	supervisorReady struct {
		id          string
		incarnation int
	}
	shutdownRequest struct{}
	timerFired      struct {
		token uint64
		kind  timerKind
		c     *child
	}
)

type timerKind int

const (
	timerBackoff timerKind = iota
	timerStopBound
)

func (*childFailed) IgnoreDeadLetterLogging()     {}
func (*childGone) IgnoreDeadLetterLogging()       {}
func (*supervisorReady) IgnoreDeadLetterLogging() {}
func (*shutdownRequest) IgnoreDeadLetterLogging() {}
func (*timerFired) IgnoreDeadLetterLogging()      {}

func newSupervisor(spec Spec, path string, sh *shared, tree *Tree, incarnation int) *supervisor {
	spec.Strategy, spec.AutoShutdown = spec.Strategy.orDefault(), spec.AutoShutdown.orDefault()
	return &supervisor{
		spec:        spec,
		path:        path,
		sh:          sh,
		tree:        tree,
		incarnation: incarnation,
		byActor:     map[string]*child{},
		lanes:       map[*child]*job{},
		intensity:   &intensityTracker{intensity: spec.Intensity}, // validated with the spec
		timers:      map[*timerFired]func() bool{},
	}
}

// Receive handles the lifecycle, the children's notifications, the
// failures and ends re-posted by HandleFailure and Terminated, timers and
// requests; then it runs the job queue.
func (s *supervisor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.started(ctx)
	case *actor.Stopping:
		s.stopping(ctx)
		return
	case *actor.Restarting:
		s.stopping(ctx)
		return
	case *actor.Stopped:
		if s.tree != nil {
			s.tree.end()
		}
		return
	case *actor.Terminated:
		ctx.Send(ctx.Self(), &childGone{id: m.Who.Id})
		return
	case *childGone:
		s.onGone(ctx, m.id)
	case *childFailed:
		s.onFailed(ctx, m)
	case *supervisorReady:
		if c := s.current(m.id, m.incarnation); c != nil {
			c.readied = true // even if it failed since: see childEnded
			if c.stop == nil {
				c.state, c.upSince = StateRunning, s.sh.clock.Now()
				s.emit(ChildReady{Header: s.header(c)})
			}
		}
	case actors.Notification:
		s.onNotification(ctx, m)
	case *actors.SwitchReply:
		s.onSwitchReply(m)
	case *timerFired:
		s.onTimer(ctx, m)
	case *shutdownRequest:
		s.shutdown(ctx, causeRequested, nil)
	case *request:
		s.onRequest(ctx, m)
	}
	if s.phase != phaseDone {
		s.pump(ctx)
	}
}

// HandleFailure is called by protoactor, on this supervisor's mailbox
// goroutine, when a child's actor failed: its process died or hung, its
// start failed, or (a nested supervisor) it gave up. The failed actor is
// suspended.
//
// On the fast path (restartInPlace) the child is restarted at once. Anywhere
// else it is stopped at once (a failed child is never resumed), and the
// decision is made in Receive, after the child's notifications.
func (s *supervisor) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, who *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	c := s.byActor[who.Id]
	var pre *decision
	switch {
	case c != nil && c.ahead && c.stop == nil:
		// Its next process is starting already (restartAhead): the
		// actor's new instance adopts it. (Never after a Stop: protoactor
		// would restart the stopped actor. A stopping actor stops the
		// process started ahead itself.)
		c.ahead = false
		sup.RestartChildren(who)
		return
	case c != nil && c.pre != nil:
		pre, c.pre = c.pre, nil
	case c != nil && c.stop == nil:
		var done bool
		if done, pre = s.restartInPlace(sup, who, c, reason); done {
			return
		}
	}
	sup.StopChildren(who)
	inc := 0
	if c != nil {
		inc = c.incarnation
		c.failed = true
		if c.stop == nil {
			c.stop = &stopInfo{failure: true, began: time.Now()}
		}
		c.state = StateStopping
	}
	system.Root.Send(s.self, &childFailed{id: who.Id, incarnation: inc, reason: reason, pre: pre})
}

// decision is what decideStep decides about a failure, when HandleFailure
// has decided it already: the intensity is exceeded, or the restart waits.
type decision struct {
	exceeded bool
	delay    time.Duration
}

// restartInPlace is the fast path of a restart: a process child of an idle
// one_for_one (or simple_one_for_one) supervisor that failed, is to
// restart, is within the intensity, and has no backoff to wait out. It is
// restarted at once, from HandleFailure, through protoactor's own restart:
// the same actor (and PID) gets a new instance, which starts a new process.
// That saves the cold path's stop, Terminated and spawn, several mailbox
// hops. Its events (ChildRestarting, ChildStarted) are held until the
// failed incarnation's ChildExited has been reported.
//
// It reports whether it restarted the child; if it did not, but counted the
// failure against the intensity and the backoff already, it returns that
// decision for decideStep.
func (s *supervisor) restartInPlace(sup actor.Supervisor, who *actor.PID, c *child, reason any) (bool, *decision) {
	if !s.fastPath(c) {
		return false, nil
	}
	now := s.sh.clock.Now()
	if s.intensity.add(now) {
		return false, &decision{exceeded: true}
	}
	if delay := c.backoff.next(now, c.upSince, nil); delay > 0 {
		return false, &decision{delay: delay}
	}
	sup.RestartChildren(who) // first: the rest is bookkeeping
	cause := asError(reason)
	c.lastErr = cause
	if len(c.held) > 0 {
		s.flush(c) // the end before this one was never reported
	}
	ended := c.incarnation
	c.endingInc = ended
	c.incarnation++
	c.restarts++
	c.failed, c.pid, c.upSince, c.endSeen, c.readied = false, 0, time.Time{}, false, false
	c.group, c.proc, c.switchAsked = nil, nil, 0
	c.state = StateStarting
	c.held = append(c.held, ChildRestarting{Header: s.headerAt(c, ended), Cause: cause}, ChildStarted{Header: s.header(c)})
	return true, nil
}

// fastPath reports whether a failure of c may be decided at once, outside
// the job queue: c is a process to restart, the strategy restarts it
// alone, nothing else is under way for c (its lane is empty, no job of the
// queue is starting it), and fewer than maxStarting children are starting.
func (s *supervisor) fastPath(c *child) bool {
	if s.phase != phaseRunning || c.kind != kindProcess || !shouldRestart(c.spec.Restart, false) ||
		!s.laned() || s.lanes[c] != nil {
		return false
	}
	if st, _ := s.startingNow(c); st != nil {
		return false
	}
	return s.starting() < maxStarting()
}

// restartAhead is the fastest restart: the ProcessExited notification of a
// failed process reaches the supervisor one mailbox hop before the actor's
// failure does, so the supervisor decides then and starts the replacement
// process at once through the actor's Restarter; when the failure arrives,
// HandleFailure restarts the actor, whose new instance adopts the process.
// On the fast path's terms only (see fastPath); otherwise, or when the
// intensity or the backoff says otherwise, the decision is left to
// HandleFailure (pre keeps what was decided here).
func (s *supervisor) restartAhead(c *child, m *actors.ProcessExited, exited ChildExited) {
	if !s.fastPath(c) || c.restarter == nil || c.pre != nil {
		s.emit(exited)
		return
	}
	now := s.sh.clock.Now()
	if s.intensity.add(now) {
		c.pre = &decision{exceeded: true}
		s.emit(exited)
		return
	}
	if delay := c.backoff.next(now, c.upSince, nil); delay > 0 {
		c.pre = &decision{delay: delay}
		s.emit(exited)
		return
	}
	inc, ok := c.restarter.StartNext(c.actor)
	if !ok {
		c.pre = &decision{}
		s.emit(exited)
		return
	}
	s.emit(exited)
	ended := c.incarnation
	c.ahead = true
	c.incarnation = inc
	c.restarts++
	c.failed, c.pid, c.upSince, c.endSeen, c.readied = false, 0, time.Time{}, false, false
	c.group, c.proc, c.switchAsked = nil, nil, 0
	c.state = StateStarting
	s.emit(ChildRestarting{Header: s.headerAt(c, ended), Cause: m.Err})
	s.emit(ChildStarted{Header: s.header(c)})
}

// flush reports the events held back by a restart in place.
func (s *supervisor) flush(c *child) {
	held := c.held
	c.held, c.endingInc = nil, 0
	for _, ev := range held {
		s.emit(ev)
	}
}

func (s *supervisor) started(ctx actor.Context) {
	s.self = ctx.Self()
	steps := []step{}
	if s.spec.Strategy != SimpleOneForOne {
		for _, cs := range s.spec.Children {
			c := newChild(cs)
			s.add(c)
			steps = append(steps, &startStep{c: c, onFail: initFailed})
		}
	}
	steps = append(steps, callStep(func(ctx actor.Context, s *supervisor) {
		s.phase = phaseRunning
		if s.tree != nil {
			s.tree.ready()
			return
		}
		ctx.Send(ctx.Parent(), &supervisorReady{id: ctx.Self().Id, incarnation: s.incarnation})
	}))
	s.enqueue(&job{steps: steps})
}

// initFailed: a child did not start while the supervisor started. As in
// OTP, the supervisor does not retry: it stops what it started and fails.
func initFailed(ctx actor.Context, s *supervisor, c *child, cause error) {
	s.abortHead()
	err := &EscalationError{Supervisor: s.path, Child: c.name, Cause: cause, startFailed: true}
	s.emit(GaveUp{Header: s.header(c), Cause: cause})
	s.shutdown(ctx, causeEscalate, err)
}

// spawn starts a new incarnation of c through its runner.
func (s *supervisor) spawn(ctx actor.Context, c *child) error {
	c.incarnation++
	c.failed, c.stop, c.pid, c.upSince, c.readied = false, nil, 0, time.Time{}, false
	c.ahead, c.pre, c.restarter, c.endSeen, c.deferred = false, nil, nil, false, nil
	c.group, c.proc, c.switchAsked = nil, nil, 0
	c.state = StateStarting
	pid, err := c.runner.start(ctx, s, c)
	if err != nil {
		c.state = StateTerminated
		c.lastErr = err
		s.emit(ChildExited{Header: s.header(c), Err: err})
		return err
	}
	c.actor = pid
	s.byActor[pid.Id] = c
	s.emit(ChildStarted{Header: s.header(c)})
	return nil
}

// stopChild asks c's actor to stop, unless it has no actor or was asked
// already, and arms the bound of its shutdown policy.
func (s *supervisor) stopChild(ctx actor.Context, c *child, reason string) {
	if c.actor == nil || c.stop != nil {
		return
	}
	c.stop = &stopInfo{reason: reason, began: time.Now()}
	c.state = StateStopping
	if bound := c.spec.stopBound(); bound > 0 {
		// Real time, whatever the tree's Clock: the process's grace is.
		c.stop.timer = s.afterOn(systemClock{}, bound, &timerFired{kind: timerStopBound, c: c, token: uint64(c.incarnation)})
	}
	c.runner.stop(ctx, s, c)
}

// current returns the child whose actor is id, if the message is about its
// current incarnation.
func (s *supervisor) current(id string, incarnation int) *child {
	c := s.byActor[id]
	if c == nil || c.incarnation != incarnation {
		return nil
	}
	return c
}

func (s *supervisor) onNotification(ctx actor.Context, n actors.Notification) {
	from := n.From()
	if from.Actor == nil {
		return
	}
	c := s.byActor[from.Actor.Id]
	switch {
	case c == nil:
		return
	case from.Incarnation == c.incarnation:
		if len(c.held) > 0 {
			s.flush(c) // the new incarnation speaks: the old one is over
		}
	case len(c.held) > 0 && from.Incarnation == c.endingInc:
		s.onPreviousEnd(c, n)
		return
	default:
		return // about an incarnation long gone
	}
	s.onCurrent(ctx, c, n)
	if c.deferred != nil && c.endSeen {
		m := c.deferred
		c.deferred = nil
		s.failed(ctx, c, m)
	}
}

// onCurrent handles a notification about c's current incarnation.
func (s *supervisor) onCurrent(ctx actor.Context, c *child, n actors.Notification) {
	switch m := n.(type) {
	case *actors.ProcessReady:
		c.readied = true // even if it failed since: see childEnded
		if c.stop == nil {
			c.state, c.pid, c.upSince = StateRunning, m.Pid, s.sh.clock.Now()
		}
		c.proc = m.Process
		if m.Node != "" {
			c.node, c.nodeInc = m.Node, c.incarnation
		}
		if m.Group != nil {
			c.group = m.Group
		}
		ready := m.Ready
		ev := ChildReady{Header: s.header(c), Ready: &ready}
		if m.Group != nil {
			ev.Spares = len(m.Group.Spares())
		}
		s.emit(ev)
	case *actors.ProcessDying:
		s.emit(ChildProcess{Header: s.header(c), Event: m.Dying})
	case *actors.ProcessHung:
		c.lastErr, c.endSeen = m.Err, true
		s.emit(ChildProcess{Header: s.header(c), Event: m.Hung})
	case *actors.ProcessViolated:
		s.emit(ChildProcess{Header: s.header(c), Event: m.Violated})
	case *actors.ProcessExited:
		c.endSeen = true
		exit := m.Exit
		c.lastExit = &exit
		if m.Err != nil {
			c.lastErr = m.Err
		}
		if c.stop != nil && !c.stop.failure && exit.Kind == procbridge.ExitStopped {
			c.stop.exit, c.stop.pid = &exit, m.Pid // reported by ChildStopped
			return
		}
		x := m.Exited
		exited := ChildExited{Header: s.header(c), Err: m.Err, Exited: &x}
		if m.Err != nil && c.stop == nil && !c.failed {
			// Decide first, report after: the restart is the critical
			// path, the events keep their order.
			s.restartAhead(c, m, exited)
			return
		}
		s.emit(exited)
	case *actors.ProcessStartFailed:
		c.lastErr, c.endSeen = m.Err, true
		s.emit(startFailedEvent(s.header(c), c, m.Err))
	case *actors.ProcessStopTimeout:
		c.endSeen = true
		if c.stop != nil {
			c.stop.stuck, c.stop.pid = true, m.Pid
		}
	case *actors.ProcessPromoted:
		s.promoted(ctx, c, m)
	case *actors.ProcessSpareReady:
		s.emit(ChildProcess{Header: s.header(c), Event: m.SpareReady})
	case *actors.ProcessSpareDown:
		s.emit(ChildProcess{Header: s.header(c), Event: m.SpareDown})
	}
}

// startFailedEvent is the ChildExited of a process child whose start
// failed with err: the process's end, when it ran at all, is in err's
// *procbridge.ExitError.
func startFailedEvent(h Header, c *child, err error) ChildExited {
	ev := ChildExited{Header: h, Err: err}
	var xe *procbridge.ExitError
	if errors.As(err, &xe) {
		exit := xe.Exit
		c.lastExit = &exit
		ev.Exited = &procbridge.Exited{Pid: xe.Pid, Exit: exit, Err: xe}
	}
	return ev
}

// promoted handles a hot-standby failover: the child carries on in its
// spare, and the failover counts against the intensity like a restart.
// A switch this supervisor asked for (a switchStep's SwitchRequest, whose
// token the notification carries) is part of a sibling's restart, whose
// failure was counted already: it is reported with the sibling's failure
// as its Cause and not counted again. Either counts in the child's
// Restarts.
func (s *supervisor) promoted(ctx actor.Context, c *child, m *actors.ProcessPromoted) {
	switched := m.Requested && c.switchAsked != 0 && m.Token == c.switchAsked
	c.restarts++
	c.pid, c.upSince = m.Promoted.To, s.sh.clock.Now()
	if c.group != nil {
		c.proc = c.group.Primary()
	}
	ev := ChildProcess{Header: s.header(c), Event: m.Promoted}
	if switched {
		c.switchAsked = 0 // the switchStep sees it reported
		ev.Cause = c.switchCause
		s.emit(ev)
		return
	}
	s.emit(ev)
	if c.stop == nil && s.intensity.add(s.sh.clock.Now()) {
		s.giveUp(ctx, c, fmt.Errorf("supervision: %s failed over from pid %d to %d: %w", c.name, m.Promoted.From, m.Promoted.To, ErrFailover))
	}
}

// onPreviousEnd handles the notifications of an incarnation that was
// restarted in place: its end is reported, then the restart's events.
func (s *supervisor) onPreviousEnd(c *child, n actors.Notification) {
	h := s.headerAt(c, c.endingInc)
	switch m := n.(type) {
	case *actors.ProcessDying:
		s.emit(ChildProcess{Header: h, Event: m.Dying})
		return
	case *actors.ProcessHung:
		s.emit(ChildProcess{Header: h, Event: m.Hung})
		return
	case *actors.ProcessViolated:
		s.emit(ChildProcess{Header: h, Event: m.Violated})
		return
	case *actors.ProcessExited:
		exit := m.Exit
		c.lastExit = &exit
		x := m.Exited
		s.emit(ChildExited{Header: h, Err: m.Err, Exited: &x})
	case *actors.ProcessStartFailed:
		s.emit(startFailedEvent(h, c, m.Err))
	case *actors.ProcessStopTimeout:
	default:
		return
	}
	s.flush(c)
}

// onFailed handles a failure HandleFailure re-posted. A process actor's
// failure can overtake the notification of the exit or hang that caused
// it; the failure then waits for it (or for the actor's end, which comes
// after every notification), so that events keep their order.
func (s *supervisor) onFailed(ctx actor.Context, m *childFailed) {
	c := s.current(m.id, m.incarnation)
	if c == nil {
		return
	}
	if c.kind == kindProcess && !c.endSeen {
		c.deferred = m
		return
	}
	s.failed(ctx, c, m)
}

func (s *supervisor) failed(ctx actor.Context, c *child, m *childFailed) {
	cause := asError(m.reason)
	c.lastErr = cause
	if len(c.held) > 0 {
		s.flush(c)
	}
	if c.kind == kindSupervisor {
		s.emit(ChildExited{Header: s.header(c), Err: cause})
	}
	if c.stop != nil && !c.stop.failure {
		return // it was being stopped anyway: the stop goes on
	}
	// A nested supervisor that gave up has stopped its children and
	// ends, as in OTP, with reason shutdown (supervisor.erl 804-807): a
	// permanent one is restarted, a transient one is not (its significance
	// may shut this supervisor down), a temporary one is dropped. The
	// escalation goes no higher unless its Restart type says so.
	var esc *EscalationError
	clean := c.kind == kindSupervisor && errors.As(cause, &esc)
	s.childEnded(ctx, c, clean, cause, m.pre)
}

// onGone handles the end of a child's actor, re-posted from Terminated.
func (s *supervisor) onGone(ctx actor.Context, id string) {
	c := s.byActor[id]
	if c == nil {
		return
	}
	if m := c.deferred; m != nil {
		c.deferred = nil
		s.failed(ctx, c, m)
	}
	delete(s.byActor, id)
	c.actor, c.pid, c.group, c.proc = nil, 0, nil, nil
	c.ahead, c.pre = false, nil
	if len(c.held) > 0 {
		s.flush(c)
	}
	st, failed := c.stop, c.failed
	c.stop, c.failed = nil, false
	if st != nil && st.timer != nil {
		s.cancel(st.timer)
	}
	switch {
	case st != nil && !st.failure:
		if !st.late {
			s.reportStop(c, st, false)
		}
		if st.reason != stopForRestart {
			c.state = StateTerminated
		}
	case st == nil && !failed:
		// It ended on its own without failing: a process that exited
		// with status 0, a nested supervisor that shut itself down.
		c.state = StateStopping
		if c.kind == kindSupervisor {
			s.emit(ChildExited{Header: s.header(c)})
		}
		s.childEnded(ctx, c, true, nil, nil)
	}
}

// reportStop emits the ChildStopped of a stop and records one that was
// killed or late for Tree.Stop.
func (s *supervisor) reportStop(c *child, st *stopInfo, boundPassed bool) {
	took := time.Since(st.began)
	ev := ChildStopped{Header: s.header(c), Pid: st.pid, Reason: st.reason, Took: took, Exit: st.exit}
	switch {
	case boundPassed || st.stuck:
		ev.Late = true
	case c.kind == kindProcess && c.spec.Shutdown != BrutalKill && took >= c.spec.stopGrace() &&
		(st.exit == nil || st.exit.Signal == syscall.SIGKILL):
		// procbridge sends SIGKILL only when the grace is over (a worker
		// that killed itself meanwhile ends sooner). Without the exit (a
		// stop that blocked the supervisor's mailbox), the time says it.
		ev.Killed = true
	}
	s.emit(ev)
	if ev.Killed || ev.Late {
		s.sh.late(ev)
	}
}

func (s *supervisor) onTimer(ctx actor.Context, m *timerFired) {
	if _, ok := s.timers[m]; !ok {
		return // cancelled
	}
	delete(s.timers, m)
	switch m.kind {
	case timerBackoff:
		token := m.token
		if s.laned() && m.c != nil {
			s.toLane(m.c, &startStep{c: m.c, token: token, onFail: restartFailed(token)})
			return
		}
		s.enqueue(&job{steps: []step{callStep(func(ctx actor.Context, s *supervisor) {
			s.then(s.restartSteps(token)...)
		})}})
	case timerStopBound:
		c := m.c
		if c.stop == nil || c.actor == nil || uint64(c.incarnation) != m.token {
			return
		}
		c.stop.late = true
		if !c.stop.failure {
			s.reportStop(c, c.stop, true)
		}
	}
}

// after arranges for msg to be posted to the supervisor d from now, on the
// tree's clock. The timer is cancelled when the supervisor stops.
func (s *supervisor) after(d time.Duration, msg *timerFired) *timerFired {
	return s.afterOn(s.sh.clock, d, msg)
}

func (s *supervisor) afterOn(clock Clock, d time.Duration, msg *timerFired) *timerFired {
	system, self := s.sh.system, s.self
	s.timers[msg] = clock.AfterFunc(d, func() { system.Root.Send(self, msg) })
	return msg
}

func (s *supervisor) cancel(t *timerFired) {
	if stop, ok := s.timers[t]; ok {
		stop()
		delete(s.timers, t)
	}
}

func (s *supervisor) cancelTimers() {
	for _, stop := range s.timers {
		stop()
	}
	clear(s.timers)
}

// stopping runs when protoactor stops (or restarts) the supervisor. After
// an orderly shutdown it has no children left. When it was stopped
// directly instead, it stops the children itself, in reverse start order,
// each waited for within its shutdown policy: protoactor would otherwise
// stop them all at once. This is the one place a supervisor blocks.
func (s *supervisor) stopping(ctx actor.Context) {
	s.cancelTimers()
	for _, j := range s.jobs {
		if j.drop != nil {
			j.drop(ErrShuttingDown)
		}
	}
	s.jobs = nil
	s.dropLanes(ErrShuttingDown)
	if s.phase != phaseDone && s.why != causeEscalate {
		s.phase = phaseShuttingDown
	}
	var alive []*child
	for _, c := range s.children {
		if c.actor != nil {
			alive = append(alive, c)
		}
	}
	for i := len(alive) - 1; i >= 0; i-- {
		c := alive[i]
		st := c.stop
		if st == nil {
			st = &stopInfo{reason: stopShutdown, began: time.Now()}
			c.stop = st
		}
		gone := stopAndWait(ctx, c.actor, c.spec.stopBound(), func() {
			if c.kind == kindSupervisor {
				ctx.Stop(c.actor) // its own Stopping stops its children in order
				return
			}
			c.runner.stop(ctx, s, c)
		})
		if !st.failure && !st.late {
			s.reportStop(c, st, !gone)
		}
	}
	s.phase = phaseDone
}

// stopAndWait calls stop and waits until the actor pid has terminated, or
// bound has passed (0: no bound). It watches pid from a throwaway process in
// the registry, since the supervisor's own mailbox is busy.
func stopAndWait(ctx actor.Context, pid *actor.PID, bound time.Duration, stop func()) bool {
	system := ctx.ActorSystem()
	w := &watcher{c: make(chan struct{}, 1)}
	self, ok := system.ProcessRegistry.Add(w, "stopwatch$"+system.ProcessRegistry.NextId())
	if !ok {
		stop()
		return false
	}
	defer system.ProcessRegistry.Remove(self)
	target, found := system.ProcessRegistry.Get(pid)
	if !found {
		return true
	}
	target.SendSystemMessage(pid, &actor.Watch{Watcher: self})
	stop()
	var timeout <-chan time.Time
	if bound > 0 {
		t := time.NewTimer(bound)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-w.c:
		return true
	case <-timeout:
		return false
	}
}

// watcher is a registry entry that notes a *actor.Terminated.
type watcher struct{ c chan struct{} }

func (w *watcher) SendUserMessage(*actor.PID, any) {}
func (w *watcher) SendSystemMessage(_ *actor.PID, m any) {
	if _, ok := m.(*actor.Terminated); ok {
		select {
		case w.c <- struct{}{}:
		default:
		}
	}
}
func (w *watcher) Stop(*actor.PID) {}

func (s *supervisor) header(c *child) Header { return s.headerAt(c, c.incarnation) }

func (s *supervisor) headerAt(c *child, incarnation int) Header {
	h := Header{Supervisor: s.path, Child: c.name, Incarnation: incarnation, Restarts: c.restarts, Time: s.sh.clock.Now()}
	if incarnation == c.nodeInc {
		h.Node = c.node
	}
	if c.dynamic {
		h.Template = c.label
	}
	return h
}

func (s *supervisor) emit(ev Event) { s.sh.emit(ev) }

// limits returns the supervisor's intensity with the defaults applied.
func (s *supervisor) limits() Intensity {
	max, period := s.spec.Intensity.limits()
	return Intensity{MaxRestarts: max, Period: period}
}

func (s *supervisor) find(name string) *child {
	for _, c := range s.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (s *supervisor) index(c *child) int {
	for i, x := range s.children {
		if x == c {
			return i
		}
	}
	return -1
}

// add makes c the last of the supervisor's children.
func (s *supervisor) add(c *child) {
	s.added++
	c.order = s.added
	s.children = append(s.children, c)
}

func (s *supervisor) remove(c *child) {
	if i := s.index(c); i >= 0 {
		s.children = append(s.children[:i], s.children[i+1:]...)
	}
	c.removed = true
	s.cancelLane(c, fmt.Errorf("%w: %s was removed", ErrStartFailed, c.name))
}

func (s *supervisor) newToken() uint64 {
	s.tokens++
	return s.tokens
}

func (s *supervisor) String() string { return fmt.Sprintf("supervisor %s", s.path) }

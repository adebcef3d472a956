package supervision

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/internal/actors"
)

// childEnded is called when c failed (clean false, cause its failure) or
// ended on its own cleanly. A child that ended before it was ready, being
// started by the head job, failed to start: that job's start step handles
// it. Any other end becomes a job that decides what follows, in turn with
// the supervisor's other work.
//
// A child has started once it was ready (procbridge's Ready: an SDK worker
// called Ready, another program was exec'd; a nested supervisor started
// its children), whatever it did next and whichever the supervisor hears
// of first: the failure, which protoactor delivers ahead of the child's
// notifications, can overtake its ProcessReady. So a program that exits in
// its first instant has started and failed: its start step completes, and
// its failure is decided after the job, as OTP decides an EXIT that waited
// in the mailbox while init was starting the other children.
func (s *supervisor) childEnded(ctx actor.Context, c *child, clean bool, cause error, pre *decision) {
	if s.phase >= phaseShuttingDown {
		return // the shutdown stops whatever is left
	}
	if st, j := s.startingNow(c); st != nil {
		if !c.readied {
			if cause == nil {
				cause = ErrStartFailed
			}
			cur := s.cur
			s.cur = j // the job onFail drops
			st.onFail(ctx, s, c, cause)
			s.cur = cur
			return
		}
		st.started = true
	}
	s.enqueue(&job{steps: []step{s.decideStep(c, clean, cause, pre)}})
}

// decideStep applies OTP's rules to the end of c when its job comes up:
// the child's Restart type, then auto-shutdown, then the intensity, then
// the strategy and the child's backoff. pre, when set, is the part that
// HandleFailure decided already (it counted the restart).
func (s *supervisor) decideStep(c *child, clean bool, cause error, pre *decision) step {
	inc := c.incarnation
	return callStep(func(ctx actor.Context, s *supervisor) {
		if c.removed || c.incarnation != inc || c.state == StateTerminated {
			return // deleted, restarted or terminated on request since
		}
		if !shouldRestart(c.spec.Restart, clean) {
			s.then(&stopStep{cs: []*child{c}, reason: stopForRestart}, callStep(func(ctx actor.Context, s *supervisor) {
				c.state = StateTerminated
				removed := c.spec.Restart == Temporary || c.dynamic
				if removed {
					s.remove(c)
				}
				s.emit(ChildTerminated{Header: s.header(c), Removed: removed})
				alive := 0
				for _, o := range s.children {
					if o != c && o.spec.Significant && o.alive() {
						alive++
					}
				}
				if shouldAutoShutdown(s.spec.AutoShutdown, termination{significant: c.spec.Significant, significantAlive: alive}) {
					s.shutdown(ctx, causeAuto, nil)
				}
			}))
			return
		}
		if pre == nil {
			now := s.sh.clock.Now()
			pre = &decision{exceeded: s.intensity.add(now)}
			if !pre.exceeded {
				pre.delay = c.backoff.next(now, c.upSince, nil)
			}
		}
		if pre.exceeded {
			s.giveUp(ctx, c, cause)
			return
		}
		s.restart(c, cause, pre.delay)
	})
}

// restart plans the restart of c and the siblings its strategy affects:
// stop the affected children still running, in reverse start order; wait
// out c's backoff; start them all again in start order, each ready before
// the next. As in OTP (supervisor.erl's restart_multiple_children), that
// includes the affected siblings that were not running: terminated on
// request, transient ones that ended cleanly. Siblings that are Temporary
// are removed instead.
//
// An affected sibling with hot spares (ChildSpec.Standby) whose actor is
// running is not stopped: it fails over to a spare instead of restarting
// cold (a switchStep). The switch happens at the sibling's place in the
// start order, once the siblings before it (c among them, if it comes
// first) are ready again, as its cold start would have; so a sibling that
// depends on c begins its new incarnation, the spare taking over, only
// after c is back. Its old primary runs on until then. A sibling that
// cannot be switched at its turn (no spare ready, its group or actor gone)
// is stopped and started cold there instead. c's failure counted once
// against the intensity (decideStep); the siblings' switches, like their
// cold restarts, do not count again.
func (s *supervisor) restart(c *child, cause error, delay time.Duration) {
	var hit, cold []*child
	switched := map[*child]bool{}
	for _, i := range affected(s.spec.Strategy, len(s.children), s.index(c)) {
		o := s.children[i]
		hit = append(hit, o)
		if o != c && o.canSwitch() {
			switched[o] = true
		} else {
			cold = append(cold, o)
		}
	}
	token := s.newToken()
	steps := s.stopInOrder(cold, stopForRestart)
	steps = append(steps, callStep(func(ctx actor.Context, s *supervisor) {
		for _, o := range hit {
			if o.removed {
				continue
			}
			if switched[o] {
				// Reported when its turn comes: a ChildProcess
				// Promoted, or ChildRestarting if it restarts cold
				// after all.
				o.switching, o.switchCause, o.pending = token, cause, 0
				continue
			}
			if o != c && o.spec.Restart == Temporary {
				o.state = StateTerminated
				s.remove(o)
				continue
			}
			o.pending, o.switching = token, 0
			o.restarts++
			o.state = StateRestarting
			if delay > 0 {
				o.state = StateBackingOff
			}
			s.emit(ChildRestarting{Header: s.header(o), Cause: cause, Delay: delay})
		}
		if delay > 0 {
			s.after(delay, &timerFired{kind: timerBackoff, token: token, c: c})
			return
		}
		s.then(s.restartSteps(token)...)
	}))
	if s.laned() {
		s.toLane(c, steps...) // c alone is affected
		return
	}
	s.then(steps...)
}

// restartSteps returns the start phase of the restart token: in start
// order, a cold start for each child waiting for it and a switch for each
// hot-standby sibling it switches.
func (s *supervisor) restartSteps(token uint64) []step {
	var steps []step
	for _, o := range s.children {
		switch {
		case o.pending == token:
			steps = append(steps, &startStep{c: o, token: token, onFail: restartFailed(token)})
		case o.switching == token:
			steps = append(steps, &switchStep{c: o, restart: token})
		}
	}
	return steps
}

// canSwitch reports whether c may fail over to a spare in a sibling's
// restart: a running hot-standby process child that is to be restarted.
// Whether a spare is ready is the group's to say, when the switch is asked.
func (c *child) canSwitch() bool {
	return c.kind == kindProcess && c.spec.Standby > 0 && c.spec.Restart != Temporary &&
		c.actor != nil && c.stop == nil && !c.failed && c.state == StateRunning
}

// switchStep switches a hot-standby sibling to a spare at its place in a
// restart (see restart). It asks the child's ProcessActor
// (actors.SwitchRequest) and waits for the answer. A switch that happened
// was reported before the answer came: the actor sends the switch's
// ProcessPromoted first, and promoted reports it as a ChildProcess
// Promoted whose Cause is the sibling's failure, not counted against the
// intensity. A child that cannot be switched is stopped and started cold
// instead, in the same place.
type switchStep struct {
	c       *child
	restart uint64 // the restart's token
	ask     uint64 // the SwitchRequest's, once asked
	reply   *actors.SwitchReply
}

func (st *switchStep) run(ctx actor.Context, s *supervisor) bool {
	c := st.c
	if st.ask == 0 {
		if c.removed || c.switching != st.restart {
			return true // terminated, deleted or taken by a later restart since
		}
		if !c.canSwitch() {
			s.coldInstead(c, st.restart, fmt.Errorf("supervision: switch %s: %w", c.name, actors.ErrNotRunning))
			return true
		}
		st.ask = s.newToken()
		c.switchAsked = st.ask
		ctx.Request(c.actor, &actors.SwitchRequest{Token: st.ask})
		return false
	}
	switch {
	case st.reply == nil && c.actor != nil && c.stop == nil:
		return false // waiting for the answer
	case st.reply != nil && st.reply.Err == nil && c.switchAsked != st.ask:
		// Switched, and reported (promoted took the request's token).
		c.switching, c.switchCause = 0, nil
		return true
	}
	var why error
	switch {
	case st.reply == nil:
		why = fmt.Errorf("supervision: switch %s: %w", c.name, actors.ErrNotRunning)
	case st.reply.Err != nil:
		why = st.reply.Err
	default:
		// Switched as the actor was stopping: its promotion was not
		// reported, and the actor is going; start it cold.
		why = fmt.Errorf("supervision: switch %s: %w", c.name, actors.ErrNotRunning)
	}
	s.coldInstead(c, st.restart, why)
	return true
}

// onSwitchReply hands the answer to a SwitchRequest to the switch step
// waiting for it. A late answer, for a step given up, is dropped.
func (s *supervisor) onSwitchReply(m *actors.SwitchReply) {
	if len(s.jobs) == 0 || len(s.jobs[0].steps) == 0 {
		return
	}
	if st, ok := s.jobs[0].steps[0].(*switchStep); ok && st.ask != 0 && st.ask == m.Token && st.reply == nil {
		st.reply = m
	}
}

// coldInstead restarts c cold at its place in the restart token, as if it
// had not been switchable: it is stopped (when it still runs), reported
// as restarting (why says why it was not switched), and started. The step
// running now is the one it replaces.
func (s *supervisor) coldInstead(c *child, token uint64, why error) {
	cause := c.switchCause
	c.switching, c.switchAsked, c.switchCause = 0, 0, nil
	s.then(
		&stopStep{cs: []*child{c}, reason: stopForRestart},
		callStep(func(ctx actor.Context, s *supervisor) {
			if c.removed {
				return
			}
			c.pending = token
			c.restarts++
			c.state = StateRestarting
			s.emit(ChildRestarting{Header: s.header(c), Cause: cause, NotSwitched: why})
		}),
		&startStep{c: c, token: token, onFail: restartFailed(token)},
	)
}

// restartFailed returns what a start in the restart token does when the
// child fails before it is ready. As in OTP, that is one more failure
// (it counts against the intensity, and the child's backoff grows),
// decided in turn, as OTP's try_again_restart is a message to itself: the
// rest of the restart is dropped, the affected siblings not started yet
// are left terminated (the retry starts them again, as the strategy
// says), and the retry is queued behind the requests that came meanwhile,
// so that TerminateChild or a stop can end a restart loop.
func restartFailed(token uint64) func(ctx actor.Context, s *supervisor, c *child, cause error) {
	return func(ctx actor.Context, s *supervisor, c *child, cause error) {
		s.abortHead()
		for _, o := range s.children {
			if o == c {
				continue
			}
			if o.pending == token && o.actor == nil {
				o.pending, o.state = 0, StateTerminated
			}
			if o.switching == token {
				o.switching, o.switchCause = 0, nil
			}
		}
		c.pending, c.state = token, StateRestarting
		s.enqueue(&job{steps: []step{s.decideStep(c, false, cause, nil)}})
	}
}

// giveUp: the intensity is exceeded. Stop everything, then escalate.
func (s *supervisor) giveUp(ctx actor.Context, c *child, cause error) {
	limits := s.limits()
	s.emit(GaveUp{Header: s.header(c), Cause: cause, Intensity: limits})
	err := &EscalationError{Supervisor: s.path, Child: c.name, Cause: cause, MaxRestarts: limits.MaxRestarts, Period: limits.Period}
	s.shutdown(ctx, causeEscalate, err)
}

// shutdown stops every child in reverse start order, each within its
// shutdown policy, then ends the supervisor: it escalates err to its parent
// (or ends the tree with it, at the root), or stops. Pending work is
// dropped; waiting callers get ErrShuttingDown.
func (s *supervisor) shutdown(ctx actor.Context, why shutdownCause, err error) {
	if s.phase >= phaseShuttingDown {
		return
	}
	s.phase, s.why, s.reason = phaseShuttingDown, why, err
	s.cancelTimers()
	for _, j := range s.jobs {
		if j.drop != nil {
			j.drop(ErrShuttingDown)
		}
	}
	s.dropLanes(ErrShuttingDown)
	var alive []*child
	for _, c := range s.children {
		c.pending, c.switching, c.switchCause = 0, 0, nil
		if c.actor != nil {
			alive = append(alive, c)
		} else {
			c.state = StateTerminated
		}
	}
	steps := s.stopInOrder(alive, stopShutdown)
	steps = append(steps, callStep(func(ctx actor.Context, s *supervisor) { s.finish(ctx) }))
	s.jobs = []*job{{steps: steps}}
}

// finish ends a supervisor whose children are all stopped.
func (s *supervisor) finish(ctx actor.Context) {
	s.jobs = nil
	if s.why != causeEscalate {
		ctx.Stop(ctx.Self()) // the parent sees Terminated: a clean end
		return
	}
	if s.tree != nil {
		s.tree.fail(s.reason)
		ctx.Stop(ctx.Self())
		return
	}
	s.phase = phaseDone
	// The failure path: protoactor recovers this panic and hands the
	// reason to the parent supervisor's HandleFailure.
	panic(s.reason)
}

package supervision

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// childEnded is called when c failed (clean false, cause its failure) or
// ended on its own cleanly. A child being started by the head job is
// handled by that job's start step; any other end becomes a job that
// decides what follows, in turn with the supervisor's other work.
func (s *supervisor) childEnded(ctx actor.Context, c *child, clean bool, cause error, pre *decision) {
	if s.phase >= phaseShuttingDown {
		return // the shutdown stops whatever is left
	}
	if st := s.startingNow(c); st != nil {
		if cause == nil {
			cause = ErrStartFailed
		}
		st.onFail(ctx, s, c, cause)
		return
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
		if !ShouldRestart(c.spec.Restart, clean) {
			s.then(&stopStep{cs: []*child{c}}, callStep(func(ctx actor.Context, s *supervisor) {
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
				if ShouldAutoShutdown(s.spec.AutoShutdown, Termination{Significant: c.spec.Significant, SignificantAlive: alive}) {
					s.shutdown(ctx, causeAuto, nil)
				}
			}))
			return
		}
		if pre == nil {
			now := s.sh.clock.Now()
			pre = &decision{exceeded: s.intensity.Add(now)}
			if !pre.exceeded {
				pre.delay = c.backoff.Next(now, c.upSince, nil)
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
// out c's backoff; start them again in start order, each ready before the
// next. Siblings that are Temporary are removed instead, and so are
// children terminated on request (they stay terminated).
func (s *supervisor) restart(c *child, cause error, delay time.Duration) {
	var affected []*child
	for _, i := range Affected(s.spec.Strategy, len(s.children), s.index(c)) {
		o := s.children[i]
		if o == c || o.actor != nil || o.pending != 0 {
			affected = append(affected, o)
		}
	}
	token := s.newToken()
	steps := s.stopInOrder(affected, StopForRestart)
	steps = append(steps, callStep(func(ctx actor.Context, s *supervisor) {
		for _, o := range affected {
			if o.removed {
				continue
			}
			if o != c && o.spec.Restart == Temporary {
				o.state = StateTerminated
				s.remove(o)
				continue
			}
			o.pending = token
			o.restarts++
			o.state = StateRestarting
			s.sh.metrics.restart(s.path, o.label)
			s.emit(ChildRestarting{Header: s.header(o), Cause: cause, Restarts: o.restarts})
		}
		if delay > 0 {
			for _, o := range affected {
				if o.pending == token {
					o.state = StateBackingOff
				}
			}
			s.emit(ChildBackingOff{Header: s.header(c), Delay: delay})
			s.after(delay, &timerFired{kind: timerBackoff, token: token})
			return
		}
		var starts []step
		for _, o := range affected {
			if o.pending == token {
				starts = append(starts, &startStep{c: o, token: token, onFail: restartFailed})
			}
		}
		s.then(starts...)
	}))
	s.then(steps...)
}

// restartFailed: a restarted child failed before it was ready. As in OTP,
// that is one more failure: the rest of the restart is dropped and the
// failure is decided at once (it counts against the intensity, and the
// child's backoff grows).
func restartFailed(ctx actor.Context, s *supervisor, c *child, cause error) {
	s.abortHead(&job{steps: []step{s.decideStep(c, false, cause, nil)}})
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
	var alive []*child
	for _, c := range s.children {
		c.pending = 0
		if c.actor != nil {
			alive = append(alive, c)
		} else {
			c.state = StateTerminated
		}
	}
	steps := s.stopInOrder(alive, StopShutdown)
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
	s.emit(Escalated{Header: Header{Supervisor: s.path, Child: escalatedChild(s.reason), Time: s.sh.clock.Now()}, Err: s.reason})
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

func escalatedChild(err error) string {
	if e, ok := err.(*EscalationError); ok {
		return e.Child
	}
	return ""
}

package supervision

import (
	"slices"

	"github.com/asynkron/protoactor-go/actor"
)

// A supervisor does one thing at a time, as OTP's does: start its children,
// restart after a failure, serve a request. Each is a job, a list of steps;
// a step that waits for something (a child ready, a child gone) leaves the
// job at the head of the queue, and the message that ends the wait runs the
// queue again (pump). Nothing ever blocks the supervisor's mailbox, so
// failures, notifications and status requests are handled while it waits.
type job struct {
	steps []step
	// drop, when set, is called if the job is discarded unfinished
	// because the supervisor shuts down: it answers a waiting caller.
	drop func(err error)
	// lane is the child whose lane the job is (see lanes.go); nil for a
	// job of the queue.
	lane *child
}

// step is one step of a job. run reports whether the step is done; a step
// that is not done is run again by the next pump.
type step interface {
	run(ctx actor.Context, s *supervisor) bool
}

// callStep runs a function and is done.
type callStep func(ctx actor.Context, s *supervisor)

func (f callStep) run(ctx actor.Context, s *supervisor) bool { f(ctx, s); return true }

// pump runs the job queue, then the lanes, until each waits or is done.
func (s *supervisor) pump(ctx actor.Context) {
	for {
		s.pumpQueue(ctx)
		if s.phase >= phaseShuttingDown || len(s.lanes) == 0 || !s.pumpLanes(ctx) {
			return
		}
	}
}

// pumpQueue runs the steps of the jobs at the head of the queue until one
// waits or the queue is empty.
func (s *supervisor) pumpQueue(ctx actor.Context) {
	for len(s.jobs) > 0 {
		j := s.jobs[0]
		if len(j.steps) == 0 {
			s.jobs = s.jobs[1:]
			continue
		}
		st := j.steps[0]
		s.cur = j
		done := st.run(ctx, s)
		s.cur = nil
		if len(s.jobs) == 0 || s.jobs[0] != j {
			continue // the step replaced the head job (aborted it, or shut down)
		}
		if !done {
			return
		}
		j.steps = j.steps[1:]
	}
}

// then inserts steps right after the step that is running.
func (s *supervisor) then(steps ...step) {
	if s.cur != nil && len(s.cur.steps) > 0 {
		s.cur.steps = slices.Insert(s.cur.steps, 1, steps...)
	}
}

func (s *supervisor) enqueue(j *job) { s.jobs = append(s.jobs, j) }

// abortHead drops the job whose step is running, when it is a lane, or
// else the job at the head of the queue: its remaining steps are not run.
func (s *supervisor) abortHead() {
	if j := s.cur; j != nil && j.lane != nil {
		if s.lanes[j.lane] == j {
			delete(s.lanes, j.lane)
		}
		return
	}
	if len(s.jobs) > 0 {
		s.jobs = s.jobs[1:]
	}
}

// startStep starts a child and waits until it is ready. token, when set,
// is the restart the child waits for: a child no longer waiting for it
// (terminated or deleted since) is skipped. onFail is called, instead of
// the usual failure handling, when the child fails or ends before it is
// ready; it must drop its job (abortHead).
type startStep struct {
	c       *child
	token   uint64
	onFail  func(ctx actor.Context, s *supervisor, c *child, cause error)
	issued  bool
	started bool // c was ready, and ended since (see childEnded)
}

func (st *startStep) run(ctx actor.Context, s *supervisor) bool {
	c := st.c
	if !st.issued {
		if c.removed || c.actor != nil || (st.token != 0 && c.pending != st.token) {
			return true
		}
		st.issued = true
		c.pending = 0
		if err := s.spawn(ctx, c); err != nil {
			st.onFail(ctx, s, c, err)
			return false
		}
		return false
	}
	return st.started || (c.actor != nil && c.stop == nil && c.state == StateRunning)
}

// startingNow returns the start step waiting for c, and its job, if c is
// the child the head job or c's lane is starting.
func (s *supervisor) startingNow(c *child) (*startStep, *job) {
	for _, j := range []*job{s.head(), s.lanes[c]} {
		if j == nil || len(j.steps) == 0 {
			continue
		}
		if st, ok := j.steps[0].(*startStep); ok && st.issued && st.c == c {
			return st, j
		}
	}
	return nil, nil
}

// head returns the job at the head of the queue, if any.
func (s *supervisor) head() *job {
	if len(s.jobs) == 0 {
		return nil
	}
	return s.jobs[0]
}

// stopStep stops children, all at once, and waits until each is gone (or
// past its bound). A supervisor stops in reverse start order by running one
// stopStep per child; a simple_one_for_one supervisor stops its children
// in one, in parallel, as OTP does.
type stopStep struct {
	cs     []*child
	reason string // stopForRestart, stopTerminate or stopShutdown
	issued bool
}

func (st *stopStep) run(ctx actor.Context, s *supervisor) bool {
	if !st.issued {
		st.issued = true
		for _, c := range st.cs {
			s.stopChild(ctx, c, st.reason)
		}
	}
	for _, c := range st.cs {
		if c.actor != nil && !(c.stop != nil && c.stop.late) {
			return false
		}
	}
	return true
}

// stopInOrder returns the steps that stop cs (given in start order) in
// reverse start order, one after the other, or all at once for a
// simple_one_for_one supervisor.
func (s *supervisor) stopInOrder(cs []*child, reason string) []step {
	if s.spec.Strategy == SimpleOneForOne {
		return []step{&stopStep{cs: cs, reason: reason}}
	}
	steps := make([]step, 0, len(cs))
	for _, c := range slices.Backward(cs) {
		steps = append(steps, &stopStep{cs: []*child{c}, reason: reason})
	}
	return steps
}

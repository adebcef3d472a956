package supervision

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"

	"github.com/asynkron/protoactor-go/actor"
)

// Lanes of work. Under one_for_one and simple_one_for_one, one child's
// restart does not depend on another's, so each child's own work runs in a
// lane of its own beside the job queue: a restart's stop, backoff and start
// (restart, onTimer), and the start of a simple_one_for_one child on
// request (StartSimpleChild). A child's steps keep their order in its lane;
// different children's lanes proceed together, so a child slow to be ready
// holds up no other.
//
// The decisions stay in the job queue, one at a time in order of failures,
// so the intensity is counted exactly as with one queue; so do the
// operations that need the children quiescent: rest_for_one and
// one_for_all restarts (no lanes: their order is kept exactly), shutdown,
// and TerminateChild, which first cancels the child's lane. A shutdown
// drops every lane, answering a waiting caller with ErrShuttingDown, so no
// child is started once it began.
//
// At most maxStarting children of one supervisor are starting at once
// (lanes and fast paths together): forking many processes at once on few
// CPUs only makes each start slower, and the whole takes as long.

// maxStarting bounds the children of one supervisor starting at once.
func maxStarting() int { return 4 * runtime.GOMAXPROCS(0) }

// laned reports whether the strategy runs children's restarts in lanes.
func (s *supervisor) laned() bool {
	return s.spec.Strategy == OneForOne || s.spec.Strategy == SimpleOneForOne
}

// toLane appends steps to c's lane, opening it if c has none.
func (s *supervisor) toLane(c *child, steps ...step) {
	if s.phase >= phaseShuttingDown {
		return
	}
	if j := s.lanes[c]; j != nil {
		j.steps = append(j.steps, steps...)
		return
	}
	s.lanes[c] = &job{lane: c, steps: steps}
}

// openLane makes j the lane of c (which has none): a request's job, whose
// drop answers its caller.
func (s *supervisor) openLane(c *child, j *job) {
	j.lane = c
	s.lanes[c] = j
}

// cancelLane drops c's lane, if it has one: a start not issued yet is not
// issued, a caller waiting on it gets err. A child being started goes on
// starting; the caller stops it if it must.
func (s *supervisor) cancelLane(c *child, err error) {
	j := s.lanes[c]
	if j == nil {
		return
	}
	delete(s.lanes, c)
	if j.drop != nil {
		j.drop(err)
	}
}

// dropLanes drops every lane, as a shutdown does.
func (s *supervisor) dropLanes(err error) {
	lanes := s.lanes
	s.lanes = map[*child]*job{}
	for _, c := range s.children { // callers answered in start order
		if j := lanes[c]; j != nil && j.drop != nil {
			j.drop(err)
		}
	}
}

// starting counts the children starting now (spawned, not ready yet).
func (s *supervisor) starting() int {
	n := 0
	for _, c := range s.children {
		if c.state == StateStarting {
			n++
		}
	}
	return n
}

// pumpLanes runs each lane's steps, in the children's start order, until
// each waits or is done, starting no more than maxStarting children at
// once. It reports whether any step completed (or a lane was dropped),
// which may have queued work.
func (s *supervisor) pumpLanes(ctx actor.Context) bool {
	progress := false
	busy, bound := s.starting(), maxStarting()
	// The children with a lane, in start order: a few among many (a pool
	// of a thousand has the requests in flight), so neither walked nor
	// copied whole at every pump. A lane belongs to one of s.children
	// (remove cancels it).
	order := s.laneOrder[:0]
	s.laneOrder = nil // its own while this pass runs
	for c := range s.lanes {
		order = append(order, c)
	}
	slices.SortFunc(order, func(a, b *child) int { return cmp.Compare(a.order, b.order) })
	defer func() { clear(order); s.laneOrder = order[:0] }()
	for _, c := range order {
		j := s.lanes[c]
		if j == nil {
			continue
		}
		for s.lanes[c] == j && len(j.steps) > 0 {
			st := j.steps[0]
			start, isStart := st.(*startStep)
			fresh := isStart && !start.issued
			if fresh && busy >= bound {
				break // its turn comes when another child is ready
			}
			s.cur = j
			done := st.run(ctx, s)
			s.cur = nil
			if s.phase >= phaseShuttingDown {
				return true
			}
			if fresh && start.issued && c.state == StateStarting {
				busy++
			}
			if s.lanes[c] != j {
				progress = true // dropped (its start failed)
				break
			}
			if !done {
				break
			}
			j.steps = j.steps[1:]
			progress = true
		}
		if s.lanes[c] == j && len(j.steps) == 0 {
			delete(s.lanes, c)
		}
	}
	return progress
}

// errTerminatedStarting answers a StartSimpleChild whose child was
// terminated before it was ready.
func errTerminatedStarting(name string) error {
	return fmt.Errorf("%w: %s was terminated before it was ready", ErrStartFailed, name)
}

package supervision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/internal/actors"
)

// Supervisor is a handle on one supervisor of a running tree
// (Tree.Supervisor; with no path, the root): OTP's run-time API. Each
// method is a request to the supervisor's actor, answered in turn with its
// other work; it waits for the answer or for ctx.
type Supervisor struct {
	tree *Tree
	path string
	pid  *actor.PID
}

// Path returns the supervisor's path, such as "root/mid".
func (s *Supervisor) Path() string { return s.path }

// Children lists the children in start order (OTP's which_children).
func (s *Supervisor) Children(ctx context.Context) ([]ChildInfo, error) {
	r, err := s.ask(ctx, &request{op: opChildren}, "children")
	if err != nil {
		return nil, err
	}
	return r.children, nil
}

// Count counts the children (OTP's count_children).
func (s *Supervisor) Count(ctx context.Context) (Counts, error) {
	r, err := s.ask(ctx, &request{op: opCount}, "count")
	if err != nil {
		return Counts{}, err
	}
	return r.counts, nil
}

// StartChild adds a child after the others and starts it; it returns once
// the child is ready (OTP's start_child). The spec is validated against the
// supervisor's (errors name the field); a name in use is ErrChildExists. A
// child that does not start is not kept, and the error wraps
// ErrStartFailed and its cause. Not for a simple_one_for_one supervisor
// (ErrSimpleOneForOne): use StartSimpleChild.
func (s *Supervisor) StartChild(ctx context.Context, spec ChildSpec) (ChildInfo, error) {
	r, err := s.ask(ctx, &request{op: opStartChild, spec: spec}, fmt.Sprintf("start child %q", spec.Name))
	if err != nil {
		return ChildInfo{}, err
	}
	return r.child, nil
}

// StartSimpleChild starts a child of a simple_one_for_one supervisor from
// its template, with args appended to the template's process arguments,
// and returns once it is ready. Its name is the template's, a dash and a
// sequence number ("conn-3").
func (s *Supervisor) StartSimpleChild(ctx context.Context, args ...string) (ChildInfo, error) {
	r, err := s.ask(ctx, &request{op: opStartSimple, args: args}, "start simple child")
	if err != nil {
		return ChildInfo{}, err
	}
	return r.child, nil
}

// TerminateChild stops the child within its shutdown policy and keeps its
// spec, so RestartChild can start it again (OTP's terminate_child). A
// temporary child, or one started from a simple_one_for_one template, is
// removed instead; terminating such a child that is gone already is not an
// error (OTP's terminate_child of a dead pid). Under OneForAll and
// RestForOne a terminated child stays terminated until a sibling's failure
// restarts it with the others, as in OTP.
func (s *Supervisor) TerminateChild(ctx context.Context, name string) error {
	_, err := s.ask(ctx, &request{op: opTerminate, name: name}, fmt.Sprintf("terminate child %q", name))
	return err
}

// RestartChild starts a terminated child again and returns once it is ready
// (OTP's restart_child). A running child is ErrRunning; one whose restart
// is under way (stopping, waiting, starting) ErrRestarting. It does not
// count against the intensity.
func (s *Supervisor) RestartChild(ctx context.Context, name string) (ChildInfo, error) {
	r, err := s.ask(ctx, &request{op: opRestart, name: name}, fmt.Sprintf("restart child %q", name))
	if err != nil {
		return ChildInfo{}, err
	}
	return r.child, nil
}

// DeleteChild removes the spec of a terminated child (OTP's delete_child).
func (s *Supervisor) DeleteChild(ctx context.Context, name string) error {
	_, err := s.ask(ctx, &request{op: opDelete, name: name}, fmt.Sprintf("delete child %q", name))
	return err
}

func (s *Supervisor) ask(ctx context.Context, req *request, what string) (*reply, error) {
	v, err := actors.Request(ctx, s.tree.sh.system, s.pid, req)
	switch {
	case errors.Is(err, actors.ErrNoActor):
		return nil, fmt.Errorf("supervision: %s: %s: %w", s.path, what, ErrNoSupervisor)
	case err != nil:
		return nil, fmt.Errorf("supervision: %s: %s: %w", s.path, what, errors.Unwrap(err))
	}
	r, ok := v.(*reply)
	if !ok {
		return nil, fmt.Errorf("supervision: %s: %s: answered with %T: not a supervisor", s.path, what, v)
	}
	if r.err != nil {
		return r, fmt.Errorf("supervision: %s: %s: %w", s.path, what, r.err)
	}
	return r, nil
}

type requestOp int

const (
	opChildren requestOp = iota
	opCount
	opStartChild
	opStartSimple
	opTerminate
	opRestart
	opDelete
)

type request struct {
	op   requestOp
	name string
	spec ChildSpec
	args []string
}

type reply struct {
	children []ChildInfo
	child    ChildInfo
	counts   Counts
	err      error
}

func (*request) IgnoreDeadLetterLogging() {}
func (*reply) IgnoreDeadLetterLogging()   {}

func (s *supervisor) onRequest(ctx actor.Context, m *request) {
	sender, system := ctx.Sender(), s.sh.system
	answer := func(r *reply) {
		if sender != nil {
			system.Root.Send(sender, r)
		}
	}
	fail := func(err error) { answer(&reply{err: err}) }
	switch m.op {
	case opChildren:
		infos := make([]ChildInfo, len(s.children))
		for i, c := range s.children {
			infos[i] = c.info()
		}
		answer(&reply{children: infos})
		return
	case opCount:
		var n Counts
		for _, c := range s.children {
			n.Specs++
			if c.state == StateRunning {
				n.Active++
			}
			if c.kind == kindSupervisor {
				n.Supervisors++
			} else {
				n.Workers++
			}
		}
		if s.spec.Strategy == SimpleOneForOne {
			n.Specs = 1 // the template, as in OTP
		}
		answer(&reply{counts: n})
		return
	}
	if s.phase >= phaseShuttingDown {
		fail(ErrShuttingDown)
		return
	}
	sofo := s.spec.Strategy == SimpleOneForOne
	switch m.op {
	case opStartChild:
		if sofo {
			fail(ErrSimpleOneForOne)
			return
		}
		spec := m.spec
		if err := validateChild(&spec, &s.spec); err != nil {
			fail(err)
			return
		}
		if s.find(spec.Name) != nil {
			fail(ErrChildExists)
			return
		}
		c := newChild(spec)
		s.add(c)
		s.enqueue(s.startJob(c, answer))
	case opStartSimple:
		if !sofo {
			fail(ErrSimpleOneForOne)
			return
		}
		tmpl := s.spec.Children[0]
		proc := *tmpl.Process
		proc.Args = append(slices.Clone(proc.Args), m.args...)
		s.seq++
		spec := tmpl
		spec.Name, spec.Process = fmt.Sprintf("%s-%d", tmpl.Name, s.seq), &proc
		c := newChild(spec)
		c.dynamic, c.label = true, tmpl.Name
		s.add(c)
		s.openLane(c, s.startJob(c, answer)) // started beside the others
	case opTerminate:
		s.enqueue(&job{drop: fail, steps: []step{callStep(func(ctx actor.Context, s *supervisor) {
			c := s.find(m.name)
			switch {
			case c == nil && s.gaveOut(m.name):
				answer(&reply{}) // a dynamic child that is gone: as OTP's dead pid
				return
			case c == nil:
				fail(ErrNoChild)
				return
			}
			s.cancelLane(c, errTerminatedStarting(c.name))
			c.pending = 0
			done := callStep(func(ctx actor.Context, s *supervisor) {
				c.state = StateTerminated
				if c.dynamic || c.spec.Restart == Temporary {
					s.remove(c)
				}
				answer(&reply{})
			})
			s.then(&stopStep{cs: []*child{c}, reason: stopTerminate}, done)
		})}})
	case opRestart, opDelete:
		if sofo {
			fail(ErrSimpleOneForOne)
			return
		}
		s.enqueue(&job{drop: fail, steps: []step{callStep(func(ctx actor.Context, s *supervisor) {
			c := s.find(m.name)
			switch {
			case c == nil:
				fail(ErrNoChild)
			case c.state == StateRunning:
				fail(ErrRunning)
			case c.actor != nil || c.state != StateTerminated || s.lanes[c] != nil:
				fail(ErrRestarting) // its restart is under way
			case m.op == opDelete:
				s.remove(c)
				answer(&reply{})
			default:
				s.then(&startStep{c: c, onFail: func(ctx actor.Context, s *supervisor, c *child, cause error) {
					s.abortHead()
					c.state = StateTerminated
					fail(fmt.Errorf("%w: %w", ErrStartFailed, cause))
				}}, callStep(func(ctx actor.Context, s *supervisor) { answer(&reply{child: c.info()}) }))
			}
		})}})
	}
}

// gaveOut reports whether name is one this simple_one_for_one supervisor
// gave a dynamic child ("conn-3"), gone or not.
func (s *supervisor) gaveOut(name string) bool {
	if s.spec.Strategy != SimpleOneForOne {
		return false
	}
	rest, ok := strings.CutPrefix(name, s.spec.Children[0].Name+"-")
	n, err := strconv.Atoi(rest)
	return ok && err == nil && n >= 1 && n <= s.seq && strconv.Itoa(n) == rest
}

// startJob starts a child added on request. A child that does not start is
// removed, and the caller gets the error.
func (s *supervisor) startJob(c *child, answer func(*reply)) *job {
	return &job{
		drop: func(err error) { answer(&reply{err: err}) },
		steps: []step{
			&startStep{c: c, onFail: func(ctx actor.Context, s *supervisor, c *child, cause error) {
				s.abortHead()
				s.remove(c)
				answer(&reply{err: fmt.Errorf("%w: %w", ErrStartFailed, cause)})
			}},
			callStep(func(ctx actor.Context, s *supervisor) { answer(&reply{child: c.info()}) }),
		},
	}
}

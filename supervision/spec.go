package supervision

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/understudy/understudy/internal/limits"
	"github.com/understudy/understudy/procbridge"
)

// Spec describes a supervisor: how it restarts its children, how often it
// may, when it shuts itself down, and the children, in start order. It is
// plain data (exported fields, durations as time.Duration) so that it can be
// written in code or loaded from a file; the zero value of each field is
// OTP's default.
type Spec struct {
	// Strategy says which children restart when one fails. The zero
	// value is OneForOne.
	Strategy Strategy
	// Intensity limits the restarts, counted across the whole
	// supervisor. The zero value is OTP's default: at most 1 restart
	// within 5 seconds. Past it, the supervisor stops every child, in
	// reverse start order, and fails to its own supervisor.
	Intensity Intensity
	// AutoShutdown says whether the supervisor ends itself when its
	// significant children end. The zero value is Never.
	AutoShutdown AutoShutdown
	// Children are started in this order, each ready before the next is
	// started, and stopped in the reverse order. There may be none, as in
	// OTP: a supervisor that starts empty gets its children at run time
	// (Supervisor.StartChild). A SimpleOneForOne supervisor has exactly
	// one, the template of the children it starts on demand
	// (Supervisor.StartSimpleChild); it starts none itself.
	Children []ChildSpec
}

// ChildSpec describes one child of a supervisor: a worker process or a
// nested supervisor.
type ChildSpec struct {
	// Name identifies the child among its siblings and names its actor
	// (the supervisor's path, a slash, the name). It must not be empty,
	// contain a slash, or start with '$'.
	Name string
	// Process is the worker process to run. Exactly one of Process and
	// Supervisor is set.
	Process *procbridge.Spec
	// Supervisor is a nested supervisor to run.
	Supervisor *Spec
	// Restart says when the child restarts after it ended. The zero
	// value is Permanent.
	Restart Restart
	// Shutdown is how the child is stopped (OTP's shutdown): a grace
	// period (a process gets SIGTERM, then SIGKILL when it ends; a nested
	// supervisor that long to stop its own children), BrutalKill (a
	// process gets SIGKILL at once; not for a nested supervisor, whose
	// children must be stopped in order) or Infinity (a nested supervisor
	// is waited for however long it takes; not for a process, whose stop
	// is always bounded). Zero is OTP's default: the process spec's
	// StopGrace (5 s when that is zero) for a
	// process, Infinity for a supervisor.
	Shutdown time.Duration
	// Significant marks a child whose end may end the supervisor (see
	// AutoShutdown). Only a Transient or Temporary child may be
	// significant, and only under an AutoShutdown other than Never.
	Significant bool
	// Standby, for a process child, keeps that many pre-warmed spare
	// processes parked beside the primary (hot standby): when the primary
	// dies or hangs, a spare takes over in microseconds from the state the
	// primary committed (procbridge.Spec.StateSize), instead of a cold
	// restart. Every failover counts against the supervisor's Intensity and
	// is reported as a ChildProcess event carrying a procbridge.Promoted.
	// With no spare ready, the child restarts cold. When a sibling's
	// failure restarts the child (OneForAll, RestForOne), it is switched
	// to a spare at its turn in the start order instead of being stopped
	// and started cold; that is part of the sibling's restart and does not
	// count again (a ChildProcess Promoted whose Cause is the sibling's
	// failure). ChildInfo.Group is its running group. The worker must
	// link procbridge/worker and call WaitActive after Ready. Zero: no
	// standby.
	Standby int
	// Nodes, for a process child, runs it on another machine: on the first
	// of these nodes (node agents, `understudy node`, named in
	// Options.Cluster.Nodes) that takes it, under a lease its node keeps
	// renewing. Its events carry the node (Header.Node). Strategies,
	// restart types, intensity, backoff and shutdown apply as to a local
	// child. Losing its node is a failure of the child (ErrNodeLost): it
	// restarts on the nodes after the lost one first, once the lost
	// node's lease has expired, so that no two copies ever run at once;
	// each copy gets an epoch above every earlier one in its environment
	// (UNDERSTUDY_LEASE_EPOCH). A subtree (Supervisor) with Nodes runs
	// whole on its node, as a tree of its own under the node's agent,
	// whose children cannot name nodes; to this supervisor it is one
	// child, ready once all its children are, failed when its intensity
	// is exceeded or its node is lost, and restarted whole on the next
	// node (its Shutdown Infinity, the default, is then the sum of its
	// children's stop bounds). Empty: the child runs on this machine.
	Nodes []string
	// Takeover, for a child with Nodes, moves it back when a node earlier
	// in Nodes than the one it runs on answers again (OTP's takeover):
	// the copy is stopped, within Shutdown, and only once it is gone (or
	// its lease has expired) is the child started again from the first
	// node of the list. The move is not a failure and does not count
	// against the Intensity; it is reported as a ChildReady on the new
	// node. Nodes are asked every lease whether they answer.
	Takeover bool
	// Backoff delays the child's restarts. Its zero value restarts at once
	// after the first failure, then waits 100 ms, doubling up to 10 s,
	// and forgets the failures after 10 s of stable uptime. Every restart
	// still counts against the supervisor's Intensity: backoff slows a
	// crash loop, it does not hide it.
	Backoff Backoff
}

// Shutdown values of OTP's that are not grace periods.
const (
	// BrutalKill stops a process child with SIGKILL at once (OTP's
	// brutal_kill).
	BrutalKill time.Duration = -1
	// Infinity waits for a nested supervisor until it has stopped its
	// children, however long that takes (OTP's infinity).
	Infinity time.Duration = 1<<63 - 1
)

// Validate reports every field of s that cannot work, as
// *procbridge.SpecError values (matching ErrInvalid) joined with
// errors.Join (errors.As finds the first), each naming the field by its
// path from s, such as "Children[1].Supervisor.Children[0].Name". Start
// calls it; a caller that builds or loads specs ahead of time calls it to
// fail early.
func (s *Spec) Validate() error {
	var v validator
	v.spec("", s)
	return errors.Join(v.errs...)
}

// Validate reports every field of c that cannot work, as Spec.Validate does,
// for a child added at run time (Supervisor.StartChild).
func (c *ChildSpec) Validate() error {
	var v validator
	v.child("", c, nil)
	return errors.Join(v.errs...)
}

// validateChild checks a child added at run time to a supervisor of spec
// parent.
func validateChild(c *ChildSpec, parent *Spec) error {
	var v validator
	v.child("", c, parent)
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) bad(field string, value any, format string, args ...any) {
	v.errs = append(v.errs, specError(field, value, format, args...))
}

// specError names a field that cannot work, its value (as Go writes it:
// quote a string) and why.
func specError(field string, value any, format string, args ...any) *procbridge.SpecError {
	return &procbridge.SpecError{Field: field, Value: fmt.Sprint(value), Reason: fmt.Sprintf(format, args...), Err: ErrInvalid}
}

func join(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}

func (v *validator) spec(prefix string, s *Spec) {
	if !valid(s.Strategy, strategies) {
		v.bad(join(prefix, "Strategy"), strconv.Quote(string(s.Strategy)), "unknown strategy (want %s)", names(strategies))
	}
	in := s.Intensity
	if in.MaxRestarts < NoRestarts {
		v.bad(join(prefix, "Intensity.MaxRestarts"), in.MaxRestarts, "want >= 0, or NoRestarts (-1)")
	}
	switch {
	case in.Period < 0:
		v.bad(join(prefix, "Intensity.Period"), in.Period, "must be positive")
	case in.Period == 0 && in.MaxRestarts > 0:
		v.bad(join(prefix, "Intensity.Period"), in.Period, "must be positive when Intensity.MaxRestarts is set (leave both zero for OTP's default, 1 restart in 5s)")
	}
	if !valid(s.AutoShutdown, autoShutdowns) {
		v.bad(join(prefix, "AutoShutdown"), strconv.Quote(string(s.AutoShutdown)), "unknown auto shutdown (want %s)", names(autoShutdowns))
	}
	if s.Strategy == SimpleOneForOne && s.AutoShutdown.orDefault() != Never {
		v.bad(join(prefix, "AutoShutdown"), strconv.Quote(string(s.AutoShutdown)), "a simple_one_for_one supervisor must use never")
	}
	switch {
	case len(s.Children) == 0 && s.Strategy == SimpleOneForOne:
		v.bad(join(prefix, "Children"), "[]", "a simple_one_for_one supervisor needs its one template")
	case len(s.Children) > 1 && s.Strategy == SimpleOneForOne:
		v.bad(join(prefix, "Children"), fmt.Sprintf("[%d specs]", len(s.Children)), "a simple_one_for_one supervisor has exactly one template")
	}
	seen := map[string]int{}
	for i := range s.Children {
		v.child(fmt.Sprintf("%s[%d]", join(prefix, "Children"), i), &s.Children[i], s)
		if name := s.Children[i].Name; name != "" {
			if j, dup := seen[name]; dup {
				v.bad(fmt.Sprintf("%s[%d].Name", join(prefix, "Children"), i), strconv.Quote(name), "duplicate name (also Children[%d])", j)
			} else {
				seen[name] = i
			}
		}
	}
}

// remoteSubtree checks what a subtree that runs on another node cannot
// hold: children that name nodes of their own (the whole subtree runs on
// its node) and descriptors handed down.
func (v *validator) remoteSubtree(prefix string, s *Spec) {
	for i := range s.Children {
		c := &s.Children[i]
		field := func(f string) string { return fmt.Sprintf("%s[%d].%s", join(prefix, "Children"), i, f) }
		if len(c.Nodes) > 0 {
			v.bad(field("Nodes"), fmt.Sprintf("[%d nodes]", len(c.Nodes)), "a child of a subtree on another node runs on that node: it cannot name nodes")
		}
		if c.Process != nil && len(c.Process.ExtraFiles) > 0 {
			v.bad(field("Process.ExtraFiles"), len(c.Process.ExtraFiles), "a child on another node cannot be handed descriptors")
		}
		if c.Supervisor != nil {
			v.remoteSubtree(field("Supervisor"), c.Supervisor)
		}
	}
}

// child checks c; parent is the spec it belongs to, nil when unknown (then
// the checks against the parent are left for when the child is added).
func (v *validator) child(prefix string, c *ChildSpec, parent *Spec) {
	field := func(f string) string { return join(prefix, f) }
	switch {
	case c.Name == "":
		v.bad(field("Name"), `""`, "empty name")
	case strings.Contains(c.Name, "/"):
		v.bad(field("Name"), strconv.Quote(c.Name), "must not contain '/' (it separates the path of a child)")
	case strings.HasPrefix(c.Name, "$"):
		v.bad(field("Name"), strconv.Quote(c.Name), "must not start with '$'")
	}
	switch {
	case c.Process == nil && c.Supervisor == nil:
		v.bad(field("Process"), "nil", "set Process (a worker process) or Supervisor (a nested supervisor)")
	case c.Process != nil && c.Supervisor != nil:
		v.bad(field("Supervisor"), "set", "Process is set too; set exactly one")
	case c.Process != nil:
		if err := c.Process.Validate(); err != nil {
			var se *procbridge.SpecError
			if errors.As(err, &se) {
				v.bad(field("Process."+se.Field), se.Value, "%s", se.Reason)
			} else {
				v.bad(field("Process"), "…", "%v", err)
			}
		}
	case c.Supervisor != nil:
		if parent != nil && parent.Strategy == SimpleOneForOne {
			v.bad(field("Supervisor"), "set", "a simple_one_for_one template must be a process")
		}
		v.spec(field("Supervisor"), c.Supervisor)
	}
	switch {
	case c.Standby < 0 || c.Standby > limits.MaxSpares:
		v.bad(field("Standby"), c.Standby, "want 0..%d spares", limits.MaxSpares)
	case c.Standby > 0 && c.Process == nil:
		v.bad(field("Standby"), c.Standby, "only a process child can have spares")
	case c.Standby > 0 && c.Process.Worker == "" && !c.Process.SDK:
		v.bad(field("Standby"), c.Standby, "spares need a worker that links procbridge/worker (Process.Worker, or Process.SDK)")
	}
	seenNode := map[string]int{}
	for i, n := range c.Nodes {
		switch j, dup := seenNode[n]; {
		case c.Process == nil && c.Supervisor == nil:
			v.bad(field("Nodes"), fmt.Sprintf("[%d nodes]", len(c.Nodes)), "only a process or a subtree can run on another node")
		case n == "":
			v.bad(fmt.Sprintf("%s[%d]", field("Nodes"), i), `""`, "empty node name")
		case dup:
			v.bad(fmt.Sprintf("%s[%d]", field("Nodes"), i), strconv.Quote(n), "duplicate node (also Nodes[%d])", j)
		default:
			seenNode[n] = i
			continue
		}
		break
	}
	if c.Takeover && len(c.Nodes) < 2 {
		v.bad(field("Takeover"), true, "a takeover needs at least two Nodes, got %d", len(c.Nodes))
	}
	if len(c.Nodes) > 0 && c.Process != nil && len(c.Process.ExtraFiles) > 0 {
		v.bad(field("Process.ExtraFiles"), len(c.Process.ExtraFiles), "a child on another node cannot be handed descriptors")
	}
	if len(c.Nodes) > 0 && c.Supervisor != nil {
		v.remoteSubtree(field("Supervisor"), c.Supervisor)
	}
	if !valid(c.Restart, restarts) {
		v.bad(field("Restart"), strconv.Quote(string(c.Restart)), "unknown restart type (want %s)", names(restarts))
	}
	switch sd := c.Shutdown; {
	case sd < 0 && sd != BrutalKill:
		v.bad(field("Shutdown"), sd, "a negative grace period (want a positive one, BrutalKill, Infinity or 0 for the default)")
	case sd == BrutalKill && c.Supervisor != nil:
		v.bad(field("Shutdown"), "BrutalKill", "a nested supervisor cannot be killed brutally: its children must be stopped in order (use Infinity)")
	case sd == Infinity && c.Process != nil:
		v.bad(field("Shutdown"), "Infinity", "only for a nested supervisor: a process is stopped within a grace period, then killed")
	}
	if c.Significant {
		switch {
		case c.Restart.orDefault() == Permanent:
			v.bad(field("Significant"), true, "a permanent child cannot be significant (OTP): make it transient or temporary")
		case parent != nil && parent.AutoShutdown.orDefault() == Never:
			v.bad(field("Significant"), true, "significant needs the supervisor's AutoShutdown to be any_significant or all_significant")
		}
	}
	for _, p := range c.Backoff.problems() {
		v.bad(field("Backoff."+p.field), p.value, "%s", p.reason)
	}
}

// valid reports whether v is the zero value (the default) or one of all.
func valid[T ~string](v T, all []T) bool { return v == "" || slices.Contains(all, v) }

// stopGrace is the grace period a process child gets.
func (c *ChildSpec) stopGrace() time.Duration {
	switch {
	case c.Shutdown > 0:
		return c.Shutdown
	case c.Process != nil && c.Process.StopGrace > 0:
		return c.Process.StopGrace
	}
	return limits.DefaultStopGrace
}

// stopBound is how long the supervisor waits for the child to be gone
// once asked to stop; 0 means no bound (infinity).
func (c *ChildSpec) stopBound() time.Duration {
	const margin = time.Second // past the actor's own bound, so the actor reports first
	if c.Supervisor != nil {
		if c.Shutdown > 0 && c.Shutdown != Infinity {
			return c.Shutdown
		}
		return 0
	}
	if c.Shutdown == BrutalKill {
		return killWait + margin
	}
	return c.stopGrace() + killWait + margin
}

// killWait is how long a process actor waits after SIGKILL for the reap.
const killWait = 5 * time.Second

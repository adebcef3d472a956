package audio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// The engine's node processes run under a supervision tree of its own: a
// one-for-one root supervisor with one Permanent child per node process
// (a node alone, or the nodes sharing a Node.Process), each a hot-standby
// child (ChildSpec.Standby: Spares) whose group the engine reads through
// ChildInfo.Group. The supervisor only observes a failover: the kernel
// wakes the spare when the primary dies, and the driver's watchdog fences
// a hung primary through the group's Segment itself, as before. What the
// supervisor adds is what follows a node process's loss with no spare
// ready: a cold restart (a new group, a new segment, the state from zero),
// counted against the intensity with every failover, and, past the
// intensity, the end of the tree and of the Run (ErrNodeDown wrapping the
// *supervision.EscalationError). Its events, logs and metrics are the
// framework's (Engine.Tree).

// Defaults of Supervision.
const (
	// DefaultSupervisorName is the engine's root supervisor's name when
	// Supervision.Name is empty: events say "audio" as their Supervisor,
	// metrics and logs label it so.
	DefaultSupervisorName = "audio"
	// DefaultRestartPeriod is the intensity's window when
	// Supervision.Period is 0.
	DefaultRestartPeriod = 10 * time.Second
	// DefaultRestartRate is how many failovers and cold restarts per
	// second, per node process, the default intensity allows over its
	// window: Supervision.MaxRestarts defaults to DefaultRestartRate ×
	// the window in seconds × the number of node processes (100 per node
	// process in 10 s).
	//
	// Why so many, when OTP's default is 1 in 5 s: every failover counts,
	// and a failover is not an outage here but a glitch-free takeover in
	// microseconds; examples/audiograph strikes a node every second, and
	// a node process cannot fail over much faster than its replacement
	// spare starts and warms (tens of milliseconds), so ten per second per
	// process is about the most a node can sustain while staying
	// glitch-free, and ten times the demo's worst. What the limit still
	// catches is a node failing every few blocks for seconds on end:
	// something no spare will fix, which the engine should not hide.
	DefaultRestartRate = 10
)

// Supervision configures the engine's supervision tree. The zero value
// means the documented defaults.
type Supervision struct {
	// MaxRestarts is how many failovers and cold restarts of node
	// processes the supervisor allows within Period, counted across all
	// of them; one more and it gives up: it stops every node process and
	// the Run fails with ErrNodeDown. Zero means DefaultRestartRate ×
	// Period in seconds × the number of node processes (at least 1).
	MaxRestarts int
	// Period is the intensity's sliding window; zero means
	// DefaultRestartPeriod.
	Period time.Duration
	// Name is the root supervisor's name: the Supervisor of every event
	// and the supervisor label of logs and metrics. Empty means
	// DefaultSupervisorName. The same rules as a node's name apply.
	Name string
	// Logger receives the tree's structured logs (a record per event:
	// failovers, spares, restarts, a supervisor giving up); nil means
	// none.
	Logger *slog.Logger
	// Metrics, when set, is where the tree registers its metrics
	// (understudy_child_restarts_total, understudy_child_failovers_total,
	// ...; see package supervision). Never the global registry.
	Metrics prometheus.Registerer
}

// resolveSupervision applies the defaults and checks the fields.
func resolveSupervision(s Supervision, hosts int) (supervision.Intensity, string, error) {
	bad := func(field string, value any, format string, args ...any) error {
		return fieldErr(ErrInvalidConfig, "engine", "Supervision."+field, value, format, args...)
	}
	period := s.Period
	switch {
	case period < 0:
		return supervision.Intensity{}, "", bad("Period", period, "must be positive, or 0 for the default (%v)", DefaultRestartPeriod)
	case period == 0:
		period = DefaultRestartPeriod
	}
	restarts := s.MaxRestarts
	switch {
	case restarts < 0:
		return supervision.Intensity{}, "", bad("MaxRestarts", restarts,
			"must be at least 1 (every failover counts), or 0 for the default (%d a second per node process)", DefaultRestartRate)
	case restarts == 0:
		restarts = max(int(int64(DefaultRestartRate)*int64(hosts)*int64(period)/int64(time.Second)), 1)
	}
	name := s.Name
	if name == "" {
		name = DefaultSupervisorName
	}
	if err := checkName(name); err != nil {
		return supervision.Intensity{}, "", bad("Name", name, "%s", err)
	}
	return supervision.Intensity{MaxRestarts: restarts, Period: period}, name, nil
}

// hostRun is one incarnation of a node process as the engine sees it: the
// group the supervisor started, and the engine's bookkeeping of its spares.
// A cold restart replaces it with a new one (Engine.hosts), so the counts
// start from zero with the new segment.
type hostRun struct {
	inc int // the child's Incarnation
	g   *procbridge.Group
	seg *procbridge.Segment

	spareMask atomic.Uint32                   // lanes holding a parked spare
	promoted  atomic.Uint64                   // ChildPromoted seen for this incarnation
	down      atomic.Pointer[procbridge.Exit] // its primary ended with no spare ready
	downMono  atomic.Int64                    // when its end was seen

	lanes map[int]int // pid → lane of its spares; the follower's alone
}

func newHostRun(inc int, g *procbridge.Group) *hostRun {
	r := &hostRun{inc: inc, g: g, seg: g.Segment(), lanes: map[int]int{}}
	for _, s := range g.Spares() {
		_, lane := s.Segment()
		r.lanes[s.Pid()] = lane
		r.spareMask.Or(1 << lane)
	}
	return r
}

// superviseSpec is the tree: one child per node process.
func (e *Engine) superviseSpec(graph string) supervision.Spec {
	spec := supervision.Spec{Strategy: supervision.OneForOne, Intensity: e.intensity}
	for i := range e.t.members {
		spec.Children = append(spec.Children, supervision.ChildSpec{
			Name: e.t.hostNames[i],
			Process: &procbridge.Spec{
				Name:       "audio-" + e.t.hostNames[i],
				Worker:     NodeWorker,
				Args:       []string{graph, fmt.Sprint(i), fmt.Sprint(e.lanes), fmt.Sprint(e.hostPriority(i)), fmt.Sprint(e.probeWarmUp)},
				StateSize:  e.t.hostStateSize(i),
				ExtraFiles: []*os.File{e.b.File()},
				Stderr:     e.cfg.Stderr,
				StopGrace:  500 * time.Millisecond,
			},
			Standby: e.lanes - 1,
			Restart: supervision.Permanent,
		})
	}
	return spec
}

// supervise starts the tree and takes each node process's group from it.
func (e *Engine) supervise(ctx context.Context, graph string) error {
	e.tq.kick = make(chan struct{}, 1)
	tree, err := supervision.Start(ctx, e.superviseSpec(graph), supervision.Options{
		Name:    e.supName,
		Logger:  e.cfg.Supervision.Logger,
		Metrics: e.cfg.Supervision.Metrics,
		OnEvent: e.onTreeEvent,
	})
	if err != nil {
		return e.superviseErr(err)
	}
	e.tree = tree
	infos, err := tree.Root().Children(ctx)
	if err != nil {
		return fmt.Errorf("audio: engine: %w", err)
	}
	for _, info := range infos {
		h, ok := e.hostIndex[info.Name]
		if !ok || info.Group == nil {
			return fmt.Errorf("audio: engine: %s: no running group after start (state %v)", info.Name, info.State)
		}
		r := newHostRun(info.Incarnation, info.Group)
		e.hosts[h].Store(r)
		e.stats.runs[h] = r
	}
	return nil
}

// superviseErr explains why the tree did not start: the node process that
// did not start, and why.
func (e *Engine) superviseErr(err error) error {
	var esc *supervision.EscalationError
	if errors.As(err, &esc) {
		if h, ok := e.hostIndex[esc.Child]; ok {
			return e.startErr(h, err)
		}
	}
	return fmt.Errorf("audio: engine: %w", err)
}

// treeQueue hands the tree's events from Options.OnEvent, which must not
// block a supervisor, to the follower goroutine, in order.
type treeQueue struct {
	mu   sync.Mutex
	evs  []supervision.Event
	kick chan struct{}
}

// onTreeEvent is the tree's OnEvent: it queues the event for follow. A
// supervisor giving up is noted at once, for the driver.
func (e *Engine) onTreeEvent(ev supervision.Event) {
	if g, ok := ev.(supervision.GaveUp); ok && g.Supervisor == e.supName {
		e.gaveUp.Store(true)
		e.nudgeSpare()
	}
	e.tq.mu.Lock()
	e.tq.evs = append(e.tq.evs, ev)
	e.tq.mu.Unlock()
	select {
	case e.tq.kick <- struct{}{}:
	default:
	}
}

func (e *Engine) nudgeSpare() {
	select {
	case e.spareCh <- struct{}{}:
	default:
	}
}

// follow turns the tree's events into the hosts' spare bookkeeping and
// the engine's events, and takes up the group of a node process restarted
// cold. Events name the host's first node (and its Process when shared).
func (e *Engine) follow(ctx context.Context) {
	var evs []supervision.Event
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.tq.kick:
		}
		for {
			e.tq.mu.Lock()
			evs, e.tq.evs = e.tq.evs, evs[:0]
			e.tq.mu.Unlock()
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				e.handleTreeEvent(ctx, ev)
			}
			clear(evs)
		}
	}
}

func (e *Engine) handleTreeEvent(ctx context.Context, ev supervision.Event) {
	hd := ev.EventHeader()
	if hd.Supervisor != e.supName {
		return
	}
	h, ok := e.hostIndex[hd.Child]
	if !ok {
		return
	}
	r := e.hosts[h].Load()
	current := r != nil && r.inc == hd.Incarnation
	switch ev := ev.(type) {
	case supervision.ChildReady:
		if r == nil || r.inc < hd.Incarnation {
			e.takeUp(ctx, h, hd.Incarnation)
		}
	case supervision.ChildPromoted:
		if current {
			r.promoted.Add(1)
			if lane, ok := r.lanes[ev.NewPid]; ok {
				r.spareMask.And(^uint32(1 << lane))
				delete(r.lanes, ev.NewPid)
			}
		}
	case supervision.ChildSpareReady:
		if current {
			r.lanes[ev.Pid] = ev.Lane
			r.spareMask.Or(1 << ev.Lane)
			e.nudgeSpare()
			e.emit(SpareReady{Node: e.hostNode(h), Process: e.hostProcess(h), Pid: ev.Pid, Lane: ev.Lane})
		}
	case supervision.ChildSpareLost:
		if lane, ok := r.lanes[ev.Pid]; current && ok {
			r.spareMask.And(^uint32(1 << lane))
			delete(r.lanes, ev.Pid)
		}
	case supervision.ChildSpareFailed:
		if current {
			e.emit(SpareFailed{Node: e.hostNode(h), Process: e.hostProcess(h), Err: ev.Err, Retry: ev.Retry})
		}
	case supervision.ChildExited:
		if current && r.down.Load() == nil {
			exit := ev.Exit
			mono := exit.Mono
			if mono == 0 {
				mono = procbridge.Monotonic()
			}
			r.downMono.Store(mono)
			r.down.Store(&exit)
			e.emit(NodeDown{Node: e.hostNode(h), Process: e.hostProcess(h),
				Err: fmt.Errorf("%w: %s: its primary ended (%v) with no spare ready: restarting it cold", ErrNodeDown, e.t.hostLabel(h), exit)})
		}
	case supervision.GaveUp:
		e.emit(NodeDown{Node: e.hostNode(h), Process: e.hostProcess(h), Final: true,
			Err: fmt.Errorf("%w: %s: the engine's supervisor gave up (%v): %w", ErrNodeDown, e.t.hostLabel(h), ev.Intensity, ev.Cause)})
	}
}

// takeUp installs the group of host h's incarnation inc (or a later one),
// which the supervisor has just reported ready: the driver uses it from
// its next look at the host.
func (e *Engine) takeUp(ctx context.Context, h, inc int) {
	info, err := e.tree.Root().Child(ctx, e.t.hostNames[h])
	if err != nil || info.Group == nil || info.Incarnation < inc {
		return // ending, or gone again: a later ChildReady brings the next
	}
	e.hosts[h].Store(newHostRun(info.Incarnation, info.Group))
	e.nudgeSpare()
}

// Tree returns the engine's supervision tree: Subscribe to its events
// (ChildPromoted for a failover, ChildSpareReady, ChildExited and
// ChildRestarting for a cold restart, GaveUp), ask its Root about the
// node processes (one child per node process, named after the node or its
// Process). Leave stopping it to Close.
func (e *Engine) Tree() *supervision.Tree { return e.tree }

// gaveUpErr waits for the tree to end once its supervisor has given up,
// and returns the Run's error: ErrNodeDown, wrapping the
// *supervision.EscalationError.
func (e *Engine) gaveUpErr(ctx context.Context, C uint64) error {
	select {
	case <-e.tree.Done():
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	err := e.tree.Err()
	who := "a node process"
	var esc *supervision.EscalationError
	if errors.As(err, &esc) {
		if h, ok := e.hostIndex[esc.Child]; ok {
			who = e.t.hostLabel(h)
		}
	}
	if err == nil {
		err = errors.New("the tree stopped")
	}
	return fmt.Errorf("%w: %s at block %d: the engine's supervisor gave up, every node process is stopped: %w", ErrNodeDown, who, C, err)
}

// childNamesErr checks that the node processes' names, which name their
// children in the tree, are distinct: a Process named like a node that
// runs alone would not be.
func (t *topology) childNamesErr() error {
	seen := map[string]int{}
	for h, name := range t.hostNames {
		j, dup := seen[name]
		if !dup {
			seen[name] = h
			continue
		}
		shared, alone := h, j
		if t.shared[j] {
			shared, alone = j, h
		}
		return fieldErr(ErrInvalidConfig, "engine", fmt.Sprintf("Graph.Nodes[%d].Process", slices.Min(t.members[shared])), name,
			"the engine's supervision tree names each node process's child after it, and %s runs alone under that name: name the Process otherwise",
			t.hostLabel(alone))
	}
	return nil
}

package audio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/internal/limits"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/metrics"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// The engine's node processes run under a supervision tree of its own: a
// one-for-one root supervisor with one Permanent child per node process
// (a node alone, or the nodes sharing a Node.Process), each a hot-standby
// child (ChildSpec.Standby: Config.Spares) whose group the engine reads
// through ChildInfo.Group. The supervisor only observes a failover: the
// kernel wakes the spare when the primary dies, and the driver's watchdog
// fences a hung primary through the group's Segment itself. What the
// supervisor adds is what follows a node process's loss with no spare
// ready: a cold restart (a new group, a new segment, the state from zero),
// counted against the intensity with every failover, and, past the
// intensity, the end of the tree and of the Run (ErrNodeDown wrapping the
// *supervision.EscalationError). Its events, logs and metrics are the
// framework's (Engine.Tree).

// Defaults of the engine's supervision tree (Config.Intensity, Name).
const (
	// defaultSupervisorName is the root supervisor's name when
	// Config.Name is empty.
	defaultSupervisorName = "audio"
	// defaultRestartPeriod is the intensity's window when
	// Config.Intensity.Period is 0.
	defaultRestartPeriod = 10 * time.Second
	// defaultRestartRate is how many failovers and cold restarts per
	// second, per node process, the default intensity allows over its
	// window (see Config.Intensity).
	defaultRestartRate = 10
)

// resolveSupervision applies the defaults of cfg's supervision fields and
// checks them.
func resolveSupervision(cfg Config, hosts int) (supervision.Intensity, string, error) {
	bad := func(field string, value any, format string, args ...any) error {
		return fieldErr(ErrInvalidConfig, field, value, format, args...)
	}
	period := cfg.Intensity.Period
	switch {
	case period < 0:
		return supervision.Intensity{}, "", bad("Intensity.Period", period, "must be positive, or 0 for the default (%v)", defaultRestartPeriod)
	case period == 0:
		period = defaultRestartPeriod
	}
	restarts := cfg.Intensity.MaxRestarts
	switch {
	case restarts < 0:
		return supervision.Intensity{}, "", bad("Intensity.MaxRestarts", restarts,
			"must be at least 1 (every failover counts), or 0 for the default (%d a second per node process)", defaultRestartRate)
	case restarts == 0:
		restarts = max(int(int64(defaultRestartRate)*int64(hosts)*int64(period)/int64(time.Second)), 1)
	}
	name := cfg.Name
	if name == "" {
		name = defaultSupervisorName
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
	promoted  atomic.Uint64                   // Promoted events seen for this incarnation
	down      atomic.Pointer[procbridge.Exit] // its primary ended with no spare ready
	downMono  atomic.Int64                    // when its end was seen

	lanes map[int]int // pid → lane of its spares; the follower's alone
	// pids holds, by lane, the process the group started there: the one
	// the driver's watchdog judges, whatever pid a node writes into its
	// lane's record.
	pids [limits.MaxSpares + 1]atomic.Int32
}

func newHostRun(inc int, g *procbridge.Group) *hostRun {
	seg, _ := g.Primary().Segment()
	r := &hostRun{inc: inc, g: g, seg: seg, lanes: map[int]int{}}
	if p := g.Primary(); p != nil {
		_, lane := p.Segment()
		r.setPid(lane, p.Pid())
	}
	for _, s := range g.Spares() {
		_, lane := s.Segment()
		r.lanes[s.Pid()] = lane
		r.setPid(lane, s.Pid())
		r.spareMask.Or(1 << lane)
	}
	return r
}

// setPid records that the group started process pid in lane.
func (r *hostRun) setPid(lane, pid int) {
	if lane >= 0 && lane < len(r.pids) {
		r.pids[lane].Store(int32(pid))
	}
}

// pid returns the process the group started in lane, or 0.
func (r *hostRun) pid(lane int) int {
	if lane < 0 || lane >= len(r.pids) {
		return 0
	}
	return int(r.pids[lane].Load())
}

// superviseSpec is the tree: one child per node process.
func (e *Engine) superviseSpec(graph string) supervision.Spec {
	spec := supervision.Spec{Strategy: supervision.OneForOne, Intensity: e.intensity}
	for i := range e.t.members {
		p := &procbridge.Spec{
			Name:       "audio-" + e.t.hostNames[i],
			Worker:     nodeWorker,
			Args:       []string{graph, fmt.Sprint(i), fmt.Sprint(e.lanes), fmt.Sprint(e.hostPriority(i)), fmt.Sprint(e.probeWarmUp)},
			StateSize:  e.t.hostStateSize(i),
			ExtraFiles: []*os.File{e.b.File()},
			Stderr:     e.cfg.Stderr,
			StopGrace:  500 * time.Millisecond,
		}
		if x, ok := e.t.procs[e.t.members[i][0]].(*execProc); ok {
			p.Worker, p.Path, p.SDK, p.Args = "", x.path, true, e.execArgs(i, x)
		}
		spec.Children = append(spec.Children, supervision.ChildSpec{
			Name:    e.t.hostNames[i],
			Process: p,
			Standby: e.lanes - 1,
			Restart: supervision.Permanent,
		})
	}
	return spec
}

// supervise starts the tree and takes each node process's group from it.
func (e *Engine) supervise(ctx context.Context, graph string) error {
	e.tq.kick = make(chan struct{}, 1)
	onEvent := e.onTreeEvent
	if e.cfg.Metrics != nil {
		m, err := metrics.New(e.cfg.Metrics)
		if err != nil {
			return fmt.Errorf("audio: engine: %w", err)
		}
		live := newLiveMetrics(e.supName, e.t.names)
		if err := e.cfg.Metrics.Register(live); err != nil {
			return fmt.Errorf("audio: engine %q: its node metrics: %w (give each engine on a registry its own Config.Name)", e.supName, err)
		}
		e.live = live
		onEvent = func(ev supervision.Event) {
			m.Observe(ev)
			e.onTreeEvent(ev)
		}
	}
	tree, err := supervision.Start(ctx, e.superviseSpec(graph), supervision.Options{
		Name:    e.supName,
		Logger:  e.cfg.Logger,
		OnEvent: onEvent,
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
	case supervision.ChildProcess:
		if current {
			e.followProcess(r, ev.Event)
		}
	case supervision.ChildExited:
		if current && r.down.Load() == nil {
			var exit procbridge.Exit
			if ev.Exited != nil {
				exit = ev.Exited.Exit
			}
			ns := mono.Of(exit.Time)
			if ns == 0 {
				ns = mono.Now()
			}
			r.downMono.Store(ns)
			r.down.Store(&exit)
			e.emit(NodeDown{Node: e.hostNode(h), Process: e.hostProcess(h),
				Err: fmt.Errorf("%w: %s: its primary ended (%v) with no spare ready: restarting it cold", ErrNodeDown, e.t.hostLabel(h), exit)})
		}
	case supervision.GaveUp:
		e.emit(NodeDown{Node: e.hostNode(h), Process: e.hostProcess(h), Final: true,
			Err: fmt.Errorf("%w: %s: the engine's supervisor gave up (%v): %w", ErrNodeDown, e.t.hostLabel(h), ev.Intensity, ev.Cause)})
	}
}

// followProcess keeps the spare bookkeeping of the current incarnation r
// of a host with the events of its group.
func (e *Engine) followProcess(r *hostRun, ev procbridge.Event) {
	switch pe := ev.(type) {
	case procbridge.Promoted:
		r.promoted.Add(1)
		if lane, ok := r.lanes[pe.To]; ok {
			r.spareMask.And(^uint32(1 << lane))
			delete(r.lanes, pe.To)
		}
	case procbridge.SpareReady:
		r.lanes[pe.Pid] = pe.Lane
		r.setPid(pe.Lane, pe.Pid)
		r.spareMask.Or(1 << pe.Lane)
		e.nudgeSpare()
	case procbridge.SpareDown:
		if lane, ok := r.lanes[pe.Pid]; pe.Exit != nil && ok {
			r.spareMask.And(^uint32(1 << lane))
			delete(r.lanes, pe.Pid)
		}
	}
}

// takeUp installs the group of host h's incarnation inc (or a later one),
// which the supervisor has just reported ready: the driver uses it from
// its next look at the host.
func (e *Engine) takeUp(ctx context.Context, h, inc int) {
	infos, err := e.tree.Root().Children(ctx)
	if err != nil {
		return // ending: nothing to take up
	}
	i := slices.IndexFunc(infos, func(c supervision.ChildInfo) bool { return c.Name == e.t.hostNames[h] })
	if i < 0 {
		return
	}
	info := infos[i]
	if info.Group == nil || info.Incarnation < inc {
		return // gone again: a later ChildReady brings the next
	}
	e.hosts[h].Store(newHostRun(info.Incarnation, info.Group))
	e.nudgeSpare()
}

// Tree returns the engine's supervision tree: Subscribe to its events (a
// ChildProcess with procbridge's Promoted for a failover, SpareReady and
// SpareDown for the spares; ChildExited and ChildRestarting for a cold
// restart; GaveUp), ask its Root about the node processes (one child per
// node process, named after the node or its Process: their pids, spares,
// restarts). Leave stopping it to Close.
func (e *Engine) Tree() *supervision.Tree { return e.tree }

// gaveUpErr waits for the tree to end once its supervisor has given up,
// and returns the Run's error: ErrNodeDown, wrapping the
// *supervision.EscalationError.
func (e *Engine) gaveUpErr(ctx context.Context, C uint64) error {
	err := e.tree.Wait(ctx)
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
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
		return fieldErr(ErrInvalidConfig, fmt.Sprintf("Graph.Nodes[%d].Process", slices.Min(t.members[shared])), name,
			"the engine's supervision tree names each node process's child after it, and %s runs alone under that name: name the Process otherwise",
			t.hostLabel(alone))
	}
	return nil
}

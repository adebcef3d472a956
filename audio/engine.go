package audio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/understudy/understudy/audio/internal/bus"
	"github.com/understudy/understudy/audio/internal/clock"
	"github.com/understudy/understudy/internal/limits"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults and limits of Config.
const (
	// defaultSlack is the output slack, in blocks, when Config.Slack is 0.
	defaultSlack = 1
	// NoSlack as Config.Slack asks for no slack at all: each block is due
	// at the end of its own period.
	NoSlack = -1
	// maxSlack bounds Config.Slack.
	maxSlack = 64
	// defaultWatchdogFraction of the period is how long a woken node may
	// take in real time before it is fenced, when Config.Watchdog is 0.
	defaultWatchdogFraction = 0.5
	// defaultOfflineWatchdog is the watchdog offline, where no deadline
	// presses: long enough that a node which is merely descheduled on a
	// loaded machine is not fenced, short enough to catch a hang quickly.
	defaultOfflineWatchdog = 100 * time.Millisecond
	// minWatchdog is the shortest watchdog the driver accepts: below it,
	// ordinary scheduling noise on a busy machine would fence healthy
	// nodes every few cycles.
	minWatchdog = 200 * time.Microsecond
	// nodeHopBudget is what the period check allows for each node on the
	// longest chain: a futex wake, a context switch, the kernel and the
	// publication, with room for a loaded machine.
	nodeHopBudget = 50 * time.Microsecond
	// failoverBudget is what the period check allows for a spare to take
	// over once a node is fenced or dead: the wake of the parked spare,
	// adopting the committed state and computing the block again.
	failoverBudget = 500 * time.Microsecond
)

// Config describes an engine. The zero value of every field but Graph and
// Sink means the documented default.
type Config struct {
	// Graph is the DSP graph. Node processes rebuild their kernels from
	// the kinds this package holds and those added with RegisterKind
	// while the program initialised.
	Graph Graph
	// Sink lists the output ports recorded, one channel each, in order:
	// the engine's output, written to WAV and returned by Run's caller
	// through the file.
	Sink []Port
	// WAV is the path of the float32 WAV file the sink writes; empty
	// writes none. It is created by Start, so an unwritable path fails
	// before any process starts.
	WAV string
	// RealTime paces the cycles: cycle k starts k periods after Run
	// began, against CLOCK_MONOTONIC, and each block is held to its
	// deadline. Without it (offline) cycles run back to back, as fast as
	// the nodes go: renders and tests; no deadline applies, so no block is
	// late or missing, and the watchdog still fences a node that hangs.
	RealTime bool
	// Clock, when set, drives the cycles instead of the engine's own
	// timer, and plays the sink ports' blocks: a sound server's client,
	// made by audio/jack's Open. Each cycle starts with one of the
	// clock's periods, and block k is played Slack periods later. It
	// needs RealTime. The engine owns it: Close closes it. With a Clock
	// whose own thread runs in SCHED_FIFO, a Priority of 0 means just
	// below that thread (see Priority).
	Clock clock.Clock
	// Rate is the rate the output runs at (a sound card's, say); zero
	// means Graph.Rate. A rate other than Graph.Rate is an error: this
	// engine does not resample.
	Rate int
	// Slack is the output latency in blocks: block k is due by the end of
	// period k+Slack, which leaves Slack periods for a spare to recompute
	// a block whose node failed. Zero means 1; NoSlack means none. At
	// most 64.
	Slack int
	// Watchdog is how long a woken node may run before the driver judges
	// it, at least 200µs: a node that is stopped, asleep, gone or
	// overrunning is then fenced and its spare takes over; one only
	// waiting for a CPU is left alone, up to a cap (see the package
	// documentation). Zero means half the period in real time (at least
	// 200µs), 100ms offline.
	Watchdog time.Duration
	// Spares is the number of pre-warmed spare processes per node process
	// (a node alone, or the nodes sharing a Node.Process), 1 to 14; zero
	// means 1.
	Spares int
	// Faults are injected into nodes at chosen blocks (tests, demos).
	Faults []Fault
	// Priority, when set, runs every node process's loop in SCHED_FIFO,
	// at Priority plus the process's level in the schedule of processes
	// (sources at Priority), and the driver's thread above them all: a
	// node woken by its predecessor preempts it on the spot rather than
	// waiting for another CPU, and the driver's watchdog preempts an
	// overrunning node, so that a loaded machine's other work cannot delay
	// a block. While Run runs, the other threads of this process that are
	// in normal scheduling go to SCHED_FIFO 1 (the Go scheduler hands the
	// driver its processor back through them), and get their scheduling
	// back when it returns: what the program computes meanwhile runs
	// ahead of the machine's normal work. Priority plus the graph's depth
	// in processes must be at most 99. It needs CAP_SYS_NICE or an
	// RLIMIT_RTPRIO that allows it; where refused, the engine runs on in
	// normal scheduling and Report.PriorityDenied says so.
	Priority int
	// Stderr is where node processes' standard error goes: the zero value
	// is this process's own; procbridge.Lines is refused (nobody reads
	// them).
	Stderr procbridge.Output

	// The engine's supervision tree (Engine.Tree) runs every node process
	// as a hot-standby child.

	// Intensity is how many failovers and cold restarts of node processes
	// the tree allows within its Period, counted across all of them (every
	// failover counts); one more and it gives up: it stops every node
	// process and the Run fails with ErrNodeDown. Its zero value is
	// generous: a Period of 10s, and MaxRestarts of 10 a second per node
	// process over it (100 per node process in 10s). Why so many, when
	// OTP's default is 1 in 5s: a failover here is not an outage but a
	// glitch-free takeover, which a node process can make whenever a
	// spare is ready (each replacement spare is a spawn of the program).
	// What the limit catches is a node failing every few blocks for
	// seconds on end: something no spare fixes, which the engine should
	// not hide.
	// A MaxRestarts that is set must be at least 1.
	Intensity supervision.Intensity
	// Name is the tree's root supervisor's name: the Supervisor of its
	// events and the supervisor label of its logs and metrics. Empty means
	// "audio". The same rules as a node's name apply.
	Name string
	// Logger receives the tree's structured logs (a record per event:
	// failovers, spares, restarts, a supervisor giving up); nil means none.
	Logger *slog.Logger
	// Metrics, when set, is where the tree registers its metrics
	// (understudy_child_restarts_total, understudy_child_failovers_total,
	// ...; see package metrics), and the engine its nodes' own, labelled
	// with Name: late and missing blocks, failovers and compute times
	// (understudy_audio_node_*), live as it plays. Never the global
	// registry.
	Metrics prometheus.Registerer
}

// Engine runs a graph: each node in its own worker process with hot
// spares (or with the nodes that share its Node.Process), blocks passed
// through one shared-memory bus, cycles driven by [Engine.Run]. The node
// processes are children of a supervision tree ([Engine.Tree]): a node
// process that is lost with no spare ready is restarted cold. Start it, Run
// it (as often as wanted: cycles go on where they stopped), Close it.
type Engine struct {
	cfg      Config
	t        *topology
	sinks    []src
	slack    int
	period   time.Duration
	watchdog time.Duration
	lanes    int
	b        *bus.Bus
	sink     *sinkWriter
	faults   []Fault // pending, by cycle

	intensity supervision.Intensity
	supName   string
	tree      *supervision.Tree
	hostIndex map[string]int            // child name → host
	hosts     []atomic.Pointer[hostRun] // per host, its current incarnation
	tq        treeQueue
	gaveUp    atomic.Bool   // the supervisor gave up: the tree is ending
	spareCh   chan struct{} // nudged on SpareReady, a new group, gaveUp
	events    chan Event
	evring    eventRing
	live      *liveMetrics // nil without Config.Metrics
	dropped   atomic.Uint64

	// cycleHook, when set (benchmarks), is called by the driver after each
	// cycle, with every block of it still in the bus.
	cycleHook func(C uint64)
	// probeWarmUp, when set before the node processes start (tests), has
	// each node's loop count its heap allocations after that many blocks
	// (see allocProbe).
	probeWarmUp uint64

	runMu  sync.Mutex // one Run at a time; guards the fields below
	cycle  uint64     // the last cycle completed
	broken error      // why a Run ended mid-cycle
	stats  runStats
	closed bool

	machine machine // what preflight found, before the first cycle

	stopMonitors context.CancelFunc
	wg           sync.WaitGroup
	closeOnce    sync.Once
	closeErr     error
}

// Start validates cfg, creates the WAV file and the bus, and starts the
// engine's supervision tree, whose children are the node processes, each a
// primary and its spares, pre-warmed; it returns once all are ready. It
// reports bad input before any process starts: every problem
// Config.Validate finds, or a WAV file it cannot create. On error nothing
// is left running.
// The engine needs Linux (memfd, futexes, pidfds, /proc); elsewhere Start
// returns an error wrapping procbridge.ErrNotSupported.
func Start(ctx context.Context, cfg Config) (*Engine, error) {
	return startEngine(ctx, cfg, nil)
}

// startEngine is Start, with tune (tests) setting the engine's hidden
// knobs before any process starts.
func startEngine(ctx context.Context, cfg Config, tune func(*Engine)) (*Engine, error) {
	if !bus.Supported {
		return nil, fmt.Errorf("audio: engine: %w", procbridge.ErrNotSupported)
	}
	e, err := newEngine(cfg)
	if err != nil {
		return nil, err
	}
	if tune != nil {
		tune(e)
	}
	if err := e.start(ctx); err != nil {
		e.Close(context.Background())
		return nil, err
	}
	if cfg.RealTime {
		e.preflight(ctx)
	}
	return e, nil
}

// newEngine checks cfg and resolves it; it starts nothing.
func newEngine(cfg Config) (*Engine, error) {
	// From here on a kind registered in this process would be unknown to
	// the node processes (it would be registered after initialisation).
	defaultKinds.seal()
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	t := r.t
	e := &Engine{
		cfg: cfg, t: t, sinks: r.sinks, slack: r.slack, period: r.period, watchdog: r.watchdog,
		lanes: r.spares + 1, faults: r.faults,
		intensity: r.intensity, supName: r.supName,
		hostIndex: make(map[string]int, len(t.members)),
		hosts:     make([]atomic.Pointer[hostRun], len(t.members)),
		spareCh:   make(chan struct{}, 1),
		events:    make(chan Event, 256),
	}
	for h, name := range t.hostNames {
		e.hostIndex[name] = h
	}
	if c := cfg.Clock; c != nil && cfg.Priority == 0 {
		// Below the clock's own thread: nodes from 1, the driver at
		// 1 + depth, under it when there is room.
		if p := c.Priority(); p > 0 {
			e.cfg.Priority = max(1, p-1-t.hostDepth)
		}
	}
	e.stats.init(len(t.procs), len(t.members))
	return e, nil
}

// Validate reports every problem of c that Start rejects before it starts
// anything, joined with errors.Join, each a *procbridge.SpecError that
// names the field by its path from c and wraps ErrInvalidGraph or
// ErrInvalidConfig (a period too short is one): the graph's (as Graph.Validate
// finds them, under "Graph.", such as Graph.Nodes[2].Kind), the sink's
// (Sink[0].Port) and those of the other fields (Slack, Spares, Faults[1].Node,
// ...). The checks that need the graph's kinds are made once the graph is
// valid. It starts nothing and creates no file: a WAV that cannot be
// written is Start's to find.
func (c *Config) Validate() error {
	_, err := c.resolve()
	return err
}

// resolved is a Config with its defaults applied, checked.
type resolved struct {
	t                *topology
	sinks            []src
	slack, spares    int
	period, watchdog time.Duration
	faults           []Fault // by cycle
	intensity        supervision.Intensity
	supName          string
}

// resolve checks c, as Validate says, and applies its defaults.
func (c *Config) resolve() (resolved, error) {
	var errs []error
	bad := func(err error, field string, value any, format string, args ...any) {
		errs = append(errs, fieldErr(err, field, value, format, args...))
	}
	var r resolved
	t, err := newTopology(&c.Graph)
	if err != nil {
		return r, inGraph(err)
	}
	r.t = t
	if len(t.procs) == 0 {
		bad(ErrInvalidGraph, "Graph.Nodes", 0, "the graph has no nodes")
		return r, errors.Join(errs...)
	}
	if err := t.childNamesErr(); err != nil {
		errs = append(errs, err)
	}
	if r.sinks, err = t.resolveSink(c.Sink); err != nil {
		errs = append(errs, err)
	}
	if c.Clock != nil && !c.RealTime {
		bad(ErrInvalidConfig, "RealTime", c.RealTime, "a Clock drives cycles in real time: set RealTime")
	}
	if c.Rate != 0 && c.Rate != c.Graph.Rate {
		bad(ErrInvalidConfig, "Rate", c.Rate, "mismatched rates: the graph runs at %d Hz and the engine does not resample", c.Graph.Rate)
	}
	slackOK := true
	r.slack = c.Slack
	switch {
	case r.slack == 0:
		r.slack = defaultSlack
	case r.slack == NoSlack:
		r.slack = 0
	case r.slack < 0 || r.slack > maxSlack:
		bad(ErrInvalidConfig, "Slack", c.Slack, "want 0 (default %d), NoSlack (-1), or 1..%d", defaultSlack, maxSlack)
		slackOK = false
	}
	r.spares = c.Spares
	if r.spares == 0 {
		r.spares = 1
	}
	if c.Priority < 0 || c.Priority > 0 && c.Priority+t.hostDepth > 99 {
		bad(ErrInvalidConfig, "Priority", c.Priority,
			"want 0 (normal scheduling) or a SCHED_FIFO priority of at most 99 − %d (the graph's depth in processes)", t.hostDepth)
	}
	if r.spares < 0 || r.spares > limits.MaxSpares {
		bad(ErrInvalidConfig, "Spares", c.Spares, "want 1..%d", limits.MaxSpares)
	}
	r.period = time.Duration(int64(t.blockSize) * int64(time.Second) / int64(t.rate))
	r.watchdog = c.Watchdog
	watchdogOK := true
	switch {
	case r.watchdog < 0:
		bad(ErrInvalidConfig, "Watchdog", r.watchdog, "must not be negative")
		watchdogOK = false
	case r.watchdog > 0 && r.watchdog < minWatchdog:
		bad(ErrInvalidConfig, "Watchdog", r.watchdog, "below the shortest watchdog this driver takes, %v", minWatchdog)
		watchdogOK = false
	case r.watchdog == 0 && c.RealTime:
		r.watchdog = max(time.Duration(float64(r.period)*defaultWatchdogFraction), minWatchdog)
	case r.watchdog == 0:
		r.watchdog = defaultOfflineWatchdog
	}
	if c.RealTime && slackOK && watchdogOK {
		budget := time.Duration(1+r.slack) * r.period
		need := time.Duration(t.hostDepth)*nodeHopBudget + r.watchdog + failoverBudget
		if need > budget {
			field, value := "Graph.BlockSize", any(t.blockSize)
			if c.Watchdog != 0 {
				field, value = "Watchdog", c.Watchdog
			}
			bad(ErrInvalidConfig, field, value,
				"period too short for this driver: a block of %d frames at %d Hz lasts %v; with slack %d a block may take %v, but a graph %d processes deep needs %v "+
					"(%d × %v per process + a %v watchdog + %v to fail over): raise BlockSize or Slack",
				t.blockSize, t.rate, r.period, r.slack, budget, t.hostDepth, need, t.hostDepth, nodeHopBudget, r.watchdog, failoverBudget)
		}
	}
	r.faults = slices.Clone(c.Faults)
	for k, f := range r.faults {
		field := fmt.Sprintf("Faults[%d]", k)
		switch {
		case !slices.Contains(t.names, f.Node):
			bad(ErrInvalidConfig, field+".Node", f.Node, "no such node")
			continue
		case f.Cycle < 1:
			bad(ErrInvalidConfig, field+".Cycle", f.Cycle, "blocks count from 1")
		case faultKindCode(f.Kind) == 0:
			bad(ErrInvalidConfig, field+".Kind", f.Kind, "want %s", faultKindWords)
		case faultPointCode(f.Point) < 0:
			bad(ErrInvalidConfig, field+".Point", f.Point, "want %s", faultPointWords)
		case f.Spin < 0:
			bad(ErrInvalidConfig, field+".Spin", f.Spin, "must not be negative")
		}
		if f.Spin == 0 {
			r.faults[k].Spin = 3 * r.period
		}
		// A process fails over once per fault: two faults striking one
		// process in one block would kill its spare too.
		h := t.hostOf[slices.Index(t.names, f.Node)]
		for j, g := range r.faults[:k] {
			if g.Cycle == f.Cycle && g.Node != f.Node && slices.Contains(t.names, g.Node) && t.hostOf[slices.Index(t.names, g.Node)] == h {
				bad(ErrInvalidConfig, field+".Cycle", f.Cycle,
					"Faults[%d] strikes %s at the same block: one fault per process and block", j, t.hostLabel(h))
				break
			}
		}
	}
	slices.SortStableFunc(r.faults, func(a, b Fault) int {
		return compareU64(a.Cycle, b.Cycle)
	})
	if c.Stderr == procbridge.Lines {
		bad(ErrInvalidConfig, "Stderr", "procbridge.Lines", "nobody reads a node process's lines: want the terminal's (the zero value), procbridge.Discard or a writer")
	}
	if r.intensity, r.supName, err = resolveSupervision(*c, len(t.members)); err != nil {
		errs = append(errs, err)
	}
	return r, errors.Join(errs...)
}

// inGraph restates the errors of a Graph as errors of the Config that
// holds it: each field under "Graph.".
func inGraph(err error) error {
	var errs []error
	for _, e := range unjoin(err) {
		if se, ok := e.(*procbridge.SpecError); ok {
			c := *se
			c.Field = "Graph." + c.Field
			e = &c
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// start creates the WAV file, the bus and the supervision tree.
func (e *Engine) start(ctx context.Context) error {
	var err error
	e.sink, err = newSinkWriter(e.cfg.WAV, e.t.rate, len(e.sinks), e.t.blockSize, !e.cfg.RealTime)
	if err != nil {
		return err
	}
	if c := e.cfg.Clock; c != nil {
		ports := make([]string, len(e.cfg.Sink))
		for i, p := range e.cfg.Sink {
			ports[i] = p.text()
		}
		if err := c.Attach(clock.Shape{Rate: e.t.rate, Frames: e.t.blockSize, Slack: e.slack, Ports: ports}); err != nil {
			return fmt.Errorf("audio: engine: %w", err)
		}
	}
	layout, err := bus.Plan(bus.Shape{Hosts: len(e.t.members), Lanes: e.lanes, BlockSize: e.t.blockSize, Outputs: e.t.outputs()})
	if err != nil {
		return fmt.Errorf("audio: engine: %w", err)
	}
	if e.b, err = bus.Create("engine", layout); err != nil {
		return fmt.Errorf("audio: engine: %w", err)
	}
	graph, err := encodeGraph(&e.cfg.Graph)
	if err != nil {
		return fmt.Errorf("audio: engine: %w", err)
	}
	if err := e.supervise(ctx, graph); err != nil {
		return err
	}
	mctx, cancel := context.WithCancel(context.Background())
	e.stopMonitors = cancel
	e.wg.Go(func() { e.follow(mctx) })
	e.wg.Go(func() { e.forward(mctx) })
	e.wg.Go(func() { e.sink.run(mctx) })
	return nil
}

// startErr explains why host i's group did not start.
func (e *Engine) startErr(i int, err error) error {
	var xe *procbridge.ExitError
	if errors.As(err, &xe) && xe.Exit.Kind == procbridge.ExitNotReady && xe.Exit.Code == exitUnknownKind {
		var custom []string
		for _, k := range e.t.kinds {
			if !slices.Contains(builtinNames, k) && !slices.Contains(custom, k) {
				custom = append(custom, k)
			}
		}
		slices.Sort(custom)
		return fmt.Errorf("audio: engine: %s: its process does not know one of the graph's kinds %s (%w): "+
			"a kind registered after the program initialised (in main, say) exists in this process but not in the node processes, "+
			"which are the program re-executed; call RegisterKind from init() or a package-level var (%w)",
			e.t.hostLabel(i), listOrNone(quoteAll(custom)), ErrInvalidGraph, err)
	}
	return fmt.Errorf("audio: engine: %s: %w", e.t.hostLabel(i), err)
}

func quoteAll(s []string) []string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return q
}

// emit sends an event without ever blocking; a reader that falls behind
// loses events (counted in Report.DroppedEvents).
func (e *Engine) emit(ev Event) {
	select {
	case e.events <- ev:
	default:
		e.dropped.Add(1)
	}
}

// Events returns the engine's live events: failovers, late and missing
// blocks, node processes down and restarted cold. The channel is closed by
// Close. The engine's supervision tree tells more, in its own terms
// (Engine.Tree).
func (e *Engine) Events() <-chan Event { return e.events }

// hostNode and hostProcess name host h in events: its first node, and its
// Process when shared.
func (e *Engine) hostNode(h int) string { return e.t.names[e.t.members[h][0]] }
func (e *Engine) hostProcess(h int) string {
	if e.t.shared[h] {
		return e.t.hostNames[h]
	}
	return ""
}

// hostPriority is host h's SCHED_FIFO priority, 0 for none: one level
// above every host that feeds it.
func (e *Engine) hostPriority(h int) int {
	if e.cfg.Priority == 0 {
		return 0
	}
	return e.cfg.Priority + e.t.hostLevel[h]
}

// driverPriority is the driver's SCHED_FIFO priority, above every node's.
func (e *Engine) driverPriority() int { return e.cfg.Priority + e.t.hostDepth }

// spareReady reports whether host i has a parked spare besides its
// primary, ready to take over, and whether its group has caught up with
// every promotion so far (one Promoted per epoch). A group that has
// not yet seen the last promotion still takes the new primary for a
// spare; should that one die now, the group would find no spare for the
// old one and give up (a cold restart). So faults are armed, and nodes
// fenced, only once the group has caught up — micro- to milliseconds.
func (e *Engine) spareReady(i int) bool {
	r := e.hosts[i].Load()
	return r.ready()
}

// ready is spareReady for one incarnation.
func (r *hostRun) ready() bool {
	epoch, lane := r.seg.Control()
	return r.spareMask.Load()&^(1<<lane) != 0 && r.promoted.Load() >= epoch && r.down.Load() == nil
}

// Close stops the supervision tree, and so every node process (SIGTERM, a
// grace period, SIGKILL), and waits for them and for the engine's
// goroutines, then closes the WAV file (completing its header) and the
// bus. It waits for a Run in progress to end; cancel Run's context first
// to end it early. Closing twice is allowed, and so is closing an engine
// whose supervisor gave up.
func (e *Engine) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.runMu.Lock()
		e.closed = true
		e.runMu.Unlock()
		var errs []error
		if e.tree != nil {
			// The supervisor stops the node processes, each within its
			// grace, in reverse order: a node loop ends on SIGTERM. (The
			// bus's stop word is not used first: a node process that
			// ended cleanly on its own would be restarted.)
			if _, err := e.tree.Stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("audio: engine: stopping the node processes: %w", err))
			}
		}
		if e.b != nil {
			atomic.StoreUint32(e.b.Stop(), 1)
		}
		if e.stopMonitors != nil {
			e.stopMonitors()
		}
		e.wg.Wait()
		if e.sink != nil {
			errs = append(errs, e.sink.close())
		}
		if e.cfg.Clock != nil {
			errs = append(errs, e.cfg.Clock.Close())
		}
		if e.b != nil {
			errs = append(errs, e.b.Close())
		}
		if e.live != nil {
			e.cfg.Metrics.Unregister(e.live)
		}
		close(e.events)
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

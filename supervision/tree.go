package supervision

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultRootName is the name of a tree's root supervisor when
// Options.Name is empty.
const DefaultRootName = "root"

// Options configure a tree. The zero value is ready to use: a quiet actor
// system of the tree's own, no logs, no metrics, the system clock.
type Options struct {
	// Name is the root supervisor's name, and so the first element of
	// every path in the tree. Empty means DefaultRootName. Trees that
	// share an actor system need different names.
	Name string

	// System is the actor system to run the tree in. Nil means a new one,
	// owned by the tree (shut down when the tree ends), whose own logger
	// is silenced (see ProtoactorLogs) and whose dead-letter throttle
	// period is short, so it never leaves a goroutine behind for long.
	System *actor.ActorSystem

	// Logger receives the tree's structured logs: one record per event,
	// at Info (started, ready, restarting, stopped), Warn (a failure, a
	// hang, a backoff, a late stop) or Error (gave up, escalated). Nil
	// means no logs.
	Logger *slog.Logger

	// ProtoactorLogs, for a system the tree creates, sends protoactor's
	// own logs to Logger (tagged lib=protoactor) instead of discarding
	// them. protoactor logs every failure at Info ("[ACTOR] Recovering").
	ProtoactorLogs bool

	// Metrics, when set, is where the tree registers its metrics (see
	// the package documentation). A *prometheus.Registry the caller owns;
	// the global registry is never used. Trees may share one.
	Metrics prometheus.Registerer

	// Clock is the source of time for intensity windows, backoff delays
	// and event times. Nil means SystemClock(). Stops are timed on the
	// real clock whatever it is, as the processes' grace periods are.
	Clock Clock

	// OnEvent, when set, is called with every event, in order for each
	// supervisor, on that supervisor's goroutine: it must return quickly
	// and be safe for concurrent use (supervisors run concurrently). It
	// sees the events of the start, before Start returns.
	OnEvent func(Event)
}

// Tree is a running supervision tree: a root supervisor and everything it
// supervises. Its methods are safe for concurrent use.
type Tree struct {
	sh     *shared
	name   string
	root   *actor.PID
	owned  bool
	readyc chan struct{}
	done   chan struct{}

	mu      sync.Mutex
	readied bool
	result  error
	ended   bool
}

// Start validates spec, starts its tree (the root supervisor starts its
// children in order, each ready before the next, nested supervisors
// likewise) and returns once every child is ready. If a child does not
// start, the tree stops what it started, in reverse order, and Start returns
// the *EscalationError (matching ErrStartFailed) that ended it. If ctx ends
// first, the tree is stopped and Start returns ctx's cause.
func Start(ctx context.Context, spec Spec, opts Options) (*Tree, error) {
	name := opts.Name
	if name == "" {
		name = DefaultRootName
	}
	if err := validRootName(name); err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Metrics)
	if err != nil {
		return nil, err
	}
	sh := &shared{
		log:     opts.Logger,
		clock:   opts.Clock,
		metrics: m,
		onEvent: opts.OnEvent,
		subs:    map[*Subscription]struct{}{},
	}
	if sh.log == nil {
		sh.log = slog.New(slog.DiscardHandler)
	}
	if sh.clock == nil {
		sh.clock = SystemClock()
	}
	t := &Tree{sh: sh, name: name, readyc: make(chan struct{}), done: make(chan struct{})}
	sh.system = opts.System
	if sh.system == nil {
		t.owned = true
		sh.system = newSystem(opts)
	}
	trees.Store(treeKey{sh.system, name}, t)
	props := actor.PropsFromProducer(func() actor.Actor {
		return newSupervisor(spec, name, sh, t, 1)
	}, actor.WithGuardian(rootGuardian))
	pid, err := sh.system.Root.SpawnNamed(props, name)
	if err != nil {
		trees.Delete(treeKey{sh.system, name})
		if t.owned {
			sh.system.Shutdown()
		}
		return nil, fmt.Errorf("supervision: start %s: %w", name, err)
	}
	t.root = pid
	select {
	case <-t.readyc:
		return t, nil
	case <-t.done:
		return nil, t.Err()
	case <-ctx.Done():
		_, _ = t.Stop(context.Background())
		return nil, fmt.Errorf("supervision: start %s: %w", name, context.Cause(ctx))
	}
}

func validRootName(name string) error {
	switch {
	case strings.Contains(name, "/"):
		return &SpecError{Field: "Options.Name", Value: strconv.Quote(name), Reason: "must not contain '/'"}
	case strings.HasPrefix(name, "$"):
		return &SpecError{Field: "Options.Name", Value: strconv.Quote(name), Reason: "must not start with '$'"}
	}
	return nil
}

func newSystem(opts Options) *actor.ActorSystem {
	logs := func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }
	if opts.ProtoactorLogs && opts.Logger != nil {
		logs = func(*actor.ActorSystem) *slog.Logger { return opts.Logger.With("lib", "protoactor") }
	}
	return actor.NewActorSystem(
		actor.WithLoggerFactory(logs),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
		actor.WithDeadLetterRequestLogging(false),
	)
}

// Name returns the root supervisor's name.
func (t *Tree) Name() string { return t.name }

// System returns the actor system the tree runs in.
func (t *Tree) System() *actor.ActorSystem { return t.sh.system }

// Root returns a handle on the root supervisor.
func (t *Tree) Root() *Supervisor { return t.Supervisor() }

// Supervisor returns a handle on the nested supervisor reached from the
// root through the child names in path (none: the root). The handle stays
// valid across the supervisor's restarts; while it is being restarted, or
// if there is no such supervisor, requests fail with ErrNoSupervisor.
func (t *Tree) Supervisor(path ...string) *Supervisor {
	p := strings.Join(append([]string{t.name}, path...), "/")
	return &Supervisor{tree: t, path: p, pid: actor.NewPID(t.sh.system.Address(), p)}
}

// Done is closed when the tree has ended: stopped, shut down
// automatically, or failed at the root.
func (t *Tree) Done() <-chan struct{} { return t.done }

// Err returns why the tree ended: nil while it runs and after a stop or an
// automatic shutdown, else the failure of the root (an *EscalationError,
// whose chain leads to the process failure that started it).
func (t *Tree) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.result
}

// Wait waits for the tree to end and returns Err, or ctx's cause if ctx
// ends first.
func (t *Tree) Wait(ctx context.Context) error {
	select {
	case <-t.done:
		return t.Err()
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Stop stops the tree: every supervisor stops its children in reverse
// start order, each within its shutdown policy (a process: SIGTERM, the
// grace period, SIGKILL), then itself. It returns when the tree has ended,
// with a report of every child that did not stop in time, or when ctx
// ends, with what was reported so far, Unfinished set, and ctx's cause;
// the tree then goes on stopping (Done says when it is over). Stopping a
// tree that has ended does nothing. Stop does not change what Err returns.
func (t *Tree) Stop(ctx context.Context) (StopReport, error) {
	from := t.sh.lateCount()
	t.sh.system.Root.Send(t.root, &shutdownRequest{})
	select {
	case <-t.done:
		return StopReport{Late: t.sh.lateSince(from)}, nil
	case <-ctx.Done():
		return StopReport{Late: t.sh.lateSince(from), Unfinished: true}, context.Cause(ctx)
	}
}

func (t *Tree) ready() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.readied {
		t.readied = true
		close(t.readyc)
	}
}

// fail records why the tree ends (the first reason wins).
func (t *Tree) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.result == nil {
		t.result = err
	}
}

// end runs when the root supervisor has stopped: every supervisor and
// process of the tree is gone.
func (t *Tree) end() {
	t.mu.Lock()
	if t.ended {
		t.mu.Unlock()
		return
	}
	t.ended = true
	t.mu.Unlock()
	trees.Delete(treeKey{t.sh.system, t.name})
	t.sh.closeSubscriptions()
	close(t.done)
	if t.owned {
		t.sh.system.Shutdown()
	}
}

// StopReport is what Tree.Stop found: the children that did not stop in
// time.
type StopReport struct {
	// Late lists the children that did not stop within their shutdown
	// policy, in the order they were stopped.
	Late []LateStop
	// Unfinished: Stop's context ended before the tree had stopped.
	Unfinished bool
}

// OK reports whether everything stopped in time.
func (r StopReport) OK() bool { return len(r.Late) == 0 && !r.Unfinished }

func (r StopReport) String() string {
	if r.OK() {
		return "everything stopped in time"
	}
	parts := make([]string, 0, len(r.Late)+1)
	for _, l := range r.Late {
		parts = append(parts, l.String())
	}
	if r.Unfinished {
		parts = append(parts, "the tree had not finished stopping")
	}
	return strings.Join(parts, "; ")
}

// LateStop is a child that did not stop within its shutdown policy.
type LateStop struct {
	Path     string // the child's path, e.g. "root/mid/worker"
	Pid      int    // its process, for a process child
	Outcome  StopOutcome
	Took     time.Duration // until it was gone, or until the supervisor went on
	Shutdown Shutdown
}

func (l LateStop) String() string {
	return fmt.Sprintf("%s (pid %d): %v after %v", l.Path, l.Pid, l.Outcome, l.Took.Round(time.Millisecond))
}

// shared is what every supervisor of one tree uses.
type shared struct {
	system  *actor.ActorSystem
	log     *slog.Logger
	clock   Clock
	metrics *metrics
	onEvent func(Event)

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
	lates  []LateStop
}

func (sh *shared) late(l LateStop) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.lates = append(sh.lates, l)
}

func (sh *shared) lateCount() int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.lates)
}

func (sh *shared) lateSince(from int) []LateStop {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return append([]LateStop(nil), sh.lates[from:]...)
}

// Subscription receives a tree's events on a channel (Tree.Subscribe).
type Subscription struct {
	c       chan Event
	sh      *shared
	dropped uint64 // guarded by sh.mu
}

// Subscribe returns a subscription to the tree's events from now on, with
// room for buffer events. An event that finds the buffer full is dropped
// and counted (Dropped), so a slow reader never delays a supervisor. The
// channel is closed when the tree ends or the subscription is closed.
func (t *Tree) Subscribe(buffer int) *Subscription {
	s := &Subscription{c: make(chan Event, max(buffer, 0)), sh: t.sh}
	t.sh.mu.Lock()
	defer t.sh.mu.Unlock()
	if t.sh.closed {
		close(s.c)
		return s
	}
	t.sh.subs[s] = struct{}{}
	return s
}

// Events returns the channel the events arrive on.
func (s *Subscription) Events() <-chan Event { return s.c }

// Dropped returns how many events were dropped because the buffer was
// full.
func (s *Subscription) Dropped() uint64 {
	s.sh.mu.Lock()
	defer s.sh.mu.Unlock()
	return s.dropped
}

// Close ends the subscription and closes its channel. Closing twice does
// nothing.
func (s *Subscription) Close() {
	s.sh.mu.Lock()
	defer s.sh.mu.Unlock()
	if _, ok := s.sh.subs[s]; ok {
		delete(s.sh.subs, s)
		close(s.c)
	}
}

func (sh *shared) closeSubscriptions() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.closed = true
	for s := range sh.subs {
		close(s.c)
	}
	clear(sh.subs)
}

// emit reports an event to OnEvent, the subscriptions, the actor system's
// EventStream and the log.
func (sh *shared) emit(ev Event) {
	if sh.onEvent != nil {
		sh.onEvent(ev)
	}
	sh.mu.Lock()
	for s := range sh.subs {
		select {
		case s.c <- ev:
		default:
			s.dropped++
		}
	}
	sh.mu.Unlock()
	sh.system.EventStream.Publish(ev)
	sh.logEvent(ev)
}

// The root supervisor of every tree is spawned with this guardian, a
// pointer (protoactor keys guardians by strategy value, so there is one per
// actor system). The root never fails by design: it ends the tree instead
// of escalating. Should it panic all the same, the guardian records the
// reason as the tree's and stops it; following protoactor's guardian rules,
// it only stops, never blocks and never panics.
var rootGuardian = &guardian{}

type treeKey struct {
	system *actor.ActorSystem
	name   string
}

var trees sync.Map // treeKey → *Tree

type guardian struct{}

func (*guardian) HandleFailure(system *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	if t, ok := trees.Load(treeKey{system, child.Id}); ok {
		t.(*Tree).fail(fmt.Errorf("supervision: root supervisor %s failed: %w", child.Id, asError(reason)))
	}
	sup.StopChildren(child)
}

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

	"github.com/understudy/understudy/internal/cluster"
	"github.com/understudy/understudy/internal/linux"
)

// defaultRootName is the name of a tree's root supervisor when
// Options.Name is empty.
const defaultRootName = "root"

// Options configure a tree. The zero value is ready to use: a quiet actor
// system of the tree's own, no logs, the system clock.
type Options struct {
	// Name is the root supervisor's name, and so the first element of
	// every path in the tree. Empty means "root". Trees that share an
	// actor system need different names.
	Name string

	// System is the protoactor-go actor system to run the tree in: the
	// one way in to the actors that run it (each supervisor is an actor
	// named by its path, such as "root/mid", and publishes the tree's
	// events on the system's EventStream). Nil means a new one, owned by
	// the tree (shut down when the tree ends), whose own logger is
	// silenced (see ProtoactorLogs) and whose dead-letter throttle period
	// is short, so it never leaves a goroutine behind for long.
	System *actor.ActorSystem

	// Logger receives the tree's structured logs: one record per event,
	// at Info (started, ready, restarting, stopped), Warn (a failure, a
	// hang, a backoff, a killed or late stop) or Error (gave up). It also
	// receives the output of every process child whose Stdout or Stderr
	// is procbridge.Lines, one Info record "output" per line, with the
	// child's supervisor and name (as an event's), the stream and the
	// line. Nil means no logs, and such
	// output is discarded.
	Logger *slog.Logger

	// ProtoactorLogs, for a system the tree creates, sends protoactor's
	// own logs to Logger (tagged lib=protoactor) instead of discarding
	// them. protoactor logs every failure at Info ("[ACTOR] Recovering").
	ProtoactorLogs bool

	// Clock is the source of time for intensity windows, backoff delays
	// and event times. Nil means the system clock. Stops are timed on the
	// real clock whatever it is, as the processes' grace periods are.
	Clock Clock

	// Kill, when set, kills the tree when it is closed, as Tree.Kill does,
	// also while Start has not returned: a caller that cancels Start's
	// context, and so waits for what started to stop in order, can still
	// end it the fast way.
	Kill <-chan struct{}

	// Cluster names the nodes that children with ChildSpec.Nodes run
	// on. Without nodes, no child may set Nodes.
	Cluster Cluster

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
	unboost func() // ends the stop's boost (Stop)
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
		name = defaultRootName
	}
	if err := validRootName(name); err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := opts.Cluster.validate(&spec); err != nil {
		return nil, err
	}
	sh := &shared{
		log:     opts.Logger,
		output:  opts.Logger != nil,
		clock:   opts.Clock,
		onEvent: opts.OnEvent,
		subs:    map[*subscription]struct{}{},
		procs:   newProcSet(),
	}
	if sh.log == nil {
		sh.log = slog.New(slog.DiscardHandler)
	}
	if sh.clock == nil {
		sh.clock = systemClock{}
	}
	if len(opts.Cluster.Nodes) > 0 {
		cl, err := cluster.NewClient(cluster.Config{Listen: opts.Cluster.Listen, Nodes: opts.Cluster.Nodes, Lease: opts.Cluster.Lease})
		if err != nil {
			return nil, fmt.Errorf("supervision: start %s: Options.Cluster: %w", name, err)
		}
		sh.cluster = cl
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
		if sh.cluster != nil {
			sh.cluster.Close()
		}
		return nil, fmt.Errorf("supervision: start %s: %w", name, err)
	}
	t.root = pid
	if opts.Kill != nil {
		go func() {
			select {
			case <-opts.Kill:
				t.Kill()
			case <-t.done:
			}
		}()
	}
	select {
	case <-t.readyc:
		return t, nil
	case <-t.done:
		if err := t.err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("supervision: start %s: killed before it was ready: %w", name, ErrShuttingDown)
	case <-ctx.Done():
		_, _ = t.Stop(context.Background())
		return nil, fmt.Errorf("supervision: start %s: %w", name, context.Cause(ctx))
	}
}

func validRootName(name string) error {
	switch {
	case strings.Contains(name, "/"):
		return specError("Options.Name", strconv.Quote(name), "must not contain '/'")
	case strings.HasPrefix(name, "$"):
		return specError("Options.Name", strconv.Quote(name), "must not start with '$'")
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

// Wait waits for the tree to end and returns why: nil after a stop or an
// automatic shutdown, else the failure of the root (an *EscalationError,
// whose chain leads to the process failure that started it). It returns
// ctx's cause if ctx ends first.
func (t *Tree) Wait(ctx context.Context) error {
	select {
	case <-t.done:
		return t.err()
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (t *Tree) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.result
}

// Stop stops the tree: every supervisor stops its children in reverse
// start order, each within its shutdown policy (a process: SIGTERM, the
// grace period, SIGKILL), then itself. It returns when the tree has ended,
// with the ChildStopped of every child that did not stop within its policy
// (Killed or Late), or when ctx ends, with those reported so far and ctx's
// cause; the tree then goes on stopping (Done says when it is over).
// Stopping a tree that has ended does nothing. Stop does not change what
// Wait returns.
//
// Till the tree has ended, this program's threads run at nice -20 where it
// may raise them (CAP_SYS_NICE), as do each worker's threads from its
// SIGTERM for up to a second. Each child's stop waits for the one before
// it, and each of those hops from a worker's end to the next SIGTERM goes
// through several of this program's goroutines: on a machine whose CPUs
// are all busy, every one of them waited tens of milliseconds for a CPU at
// the ordinary nice (512 workers beating on two CPUs: 11 to 31 ms a child,
// most of the tree's stop).
func (t *Tree) Stop(ctx context.Context) ([]ChildStopped, error) {
	t.mu.Lock()
	if !t.ended && t.unboost == nil {
		t.unboost = linux.BoostOwn()
	}
	t.mu.Unlock()
	from := t.sh.lateCount()
	t.sh.system.Root.Send(t.root, &shutdownRequest{})
	select {
	case <-t.done:
		return t.sh.lateSince(from), nil
	case <-ctx.Done():
		return t.sh.lateSince(from), context.Cause(ctx)
	}
}

// Kill stops the tree the fast way: it SIGKILLs the process group of every
// process of the tree at once (the primaries and spares of hot-standby
// children too; a process that finishes starting later is killed then),
// and asks the tree to stop, without waiting. The supervisors then see
// their children gone and end in order, reporting them; Done says when it
// is over. Safe to call twice, with Stop, and after the tree ended.
func (t *Tree) Kill() {
	t.sh.procs.kill()
	select {
	case <-t.done:
	default:
		t.sh.system.Root.Send(t.root, &shutdownRequest{})
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
	unboost := t.unboost
	t.mu.Unlock()
	if unboost != nil {
		unboost()
	}
	trees.Delete(treeKey{t.sh.system, t.name})
	t.sh.closeSubscriptions()
	if t.sh.cluster != nil {
		t.sh.cluster.Close() // every copy stopped already: the tree ended
	}
	close(t.done)
	if t.owned {
		t.sh.system.Shutdown()
	}
}

// shared is what every supervisor of one tree uses.
type shared struct {
	system  *actor.ActorSystem
	log     *slog.Logger
	output  bool // log the lines of process children (Options.Logger set)
	clock   Clock
	onEvent func(Event)
	procs   *procSet
	cluster *cluster.Client // nil without Options.Cluster.Nodes

	mu     sync.Mutex
	subs   map[*subscription]struct{}
	closed bool
	lates  []ChildStopped
}

func (sh *shared) late(l ChildStopped) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.lates = append(sh.lates, l)
}

func (sh *shared) lateCount() int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.lates)
}

func (sh *shared) lateSince(from int) []ChildStopped {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return append([]ChildStopped(nil), sh.lates[from:]...)
}

// subscription is one reader of a tree's events (Tree.Subscribe).
type subscription struct {
	c    chan Event
	stop func() bool // stops the AfterFunc of its context
}

// Subscribe returns a channel of the tree's events from now on, with room
// for buffer events. An event that finds the buffer full is dropped, so a
// slow reader never delays a supervisor. The channel is closed when ctx
// ends or the tree ends.
func (t *Tree) Subscribe(ctx context.Context, buffer int) <-chan Event {
	s := &subscription{c: make(chan Event, max(buffer, 0))}
	t.sh.mu.Lock()
	defer t.sh.mu.Unlock()
	if t.sh.closed || ctx.Err() != nil {
		close(s.c)
		return s.c
	}
	t.sh.subs[s] = struct{}{}
	s.stop = context.AfterFunc(ctx, func() {
		t.sh.mu.Lock()
		defer t.sh.mu.Unlock()
		if _, ok := t.sh.subs[s]; ok {
			delete(t.sh.subs, s)
			close(s.c)
		}
	})
	return s.c
}

func (sh *shared) closeSubscriptions() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.closed = true
	for s := range sh.subs {
		s.stop()
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
		default: // a full buffer drops
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

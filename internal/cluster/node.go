package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/understudy/understudy/internal/actors"
	"github.com/understudy/understudy/internal/cluster/wire"
	"github.com/understudy/understudy/internal/mono"
)

// nodeActorName is the name of a node agent's actor, the one a supervising
// program sends its Start and Stop to.
const nodeActorName = "understudy-node"

// leaseMargin is how long before its lease ends (as the node counts it,
// from the claim it sent) a node's copy is killed: room for the kill (on a
// loaded machine, the keeper's wake-up) and for the clocks of two
// machines to run at slightly different rates.
func leaseMargin(lease time.Duration) time.Duration {
	return min(lease/5, 100*time.Millisecond)
}

// NodeConfig configures a node agent.
type NodeConfig struct {
	// Name is the node's name, as supervisors list it (ChildSpec.Nodes).
	Name string
	// Listen is the host:port the agent listens on for supervisors.
	Listen string
	// Logger receives a record per copy started and ended; nil: none.
	Logger *slog.Logger
	// Ready, when set, is called with the agent's address once it listens.
	Ready func(addr string)
}

// RunNode runs a node agent until ctx ends: it listens on cfg.Listen and
// runs, on behalf of supervising programs, the copies of their remote
// children, each under a lease it renews with the program; a copy whose
// lease cannot be renewed is killed before it expires (by the lease
// keeper, a process of its own, even while the agent is paused). When ctx
// ends, its copies are killed.
func RunNode(ctx context.Context, cfg NodeConfig) error {
	if cfg.Name == "" {
		return errors.New("cluster: node: empty name")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	system, r, err := newSystem(cfg.Listen)
	if err != nil {
		return err
	}
	k, err := startKeeper()
	if err != nil {
		r.Shutdown(false)
		system.Shutdown()
		return err
	}
	n := &node{name: cfg.Name, keeper: k, log: log, copies: map[string]*actor.PID{}, epochs: map[string]uint64{}}
	props := actor.PropsFromProducer(func() actor.Actor { return n }, actor.WithSupervisor(stopOnFailure{}))
	pid, err := system.Root.SpawnNamed(props, nodeActorName)
	if err != nil {
		r.Shutdown(false)
		system.Shutdown()
		_ = k.close()
		return fmt.Errorf("cluster: node: %w", err)
	}
	// Starts by datagram too; without, over the remote alone.
	starts, err := listenStarts(system.Address(), func(m *wire.Start) { system.Root.Send(pid, m) })
	if err != nil {
		log.Warn("no starts by datagram", "err", err)
	}
	log.Info("node listening", "node", cfg.Name, "addr", system.Address())
	if cfg.Ready != nil {
		cfg.Ready(system.Address())
	}
	<-ctx.Done()
	if starts != nil {
		starts.close()
	}
	r.Shutdown(false)
	system.Shutdown()
	return k.close() // kills the copies still kept
}

// stopOnFailure stops a failed child: a copy's process actor, which fails
// when its process dies, is never restarted by its node.
type stopOnFailure struct{}

func (stopOnFailure) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, _, _ any) {
	sup.StopChildren(child)
}

// node is the agent's actor.
type node struct {
	name   string
	keeper *keeper
	log    *slog.Logger

	copies map[string]*actor.PID // key → the copy actor of its current epoch
	epochs map[string]uint64     // key → the highest epoch seen

	// answering: the owner addresses whose grant servers answered this
	// node's last claims by datagram (renew.go); a copy of theirs sends
	// its first claim by datagram alone.
	answering sync.Map
}

func (n *node) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *wire.Start:
		if m.GetEpoch() <= n.epochs[m.GetKey()] {
			return // stale: a later copy was asked for already
		}
		n.epochs[m.GetKey()] = m.GetEpoch()
		if old := n.copies[m.GetKey()]; old != nil {
			ctx.Stop(old) // fenced: the new epoch wins
		}
		c := &copyActor{node: n, start: m, owner: actor.NewPID(m.GetOwnerAddress(), m.GetOwnerId())}
		c.token = leaseToken(n.name, m.GetKey(), m.GetEpoch())
		props := actor.PropsFromProducer(func() actor.Actor { return c }, actor.WithSupervisor(stopOnFailure{}))
		pid, err := ctx.SpawnNamed(props, fmt.Sprintf("copy-%d", m.GetEpoch()))
		if err != nil {
			n.log.Warn("copy not started", "key", m.GetKey(), "err", err)
			return
		}
		n.copies[m.GetKey()] = pid
	case *wire.Stop:
		if pid := n.copies[m.GetKey()]; pid != nil && n.epochs[m.GetKey()] == m.GetEpoch() {
			ctx.Send(pid, m)
		}
	case *wire.Hello:
		ctx.Send(actor.NewPID(m.GetOwnerAddress(), m.GetOwnerId()), &wire.Hello{Node: n.name})
	case *copyGone:
		if n.copies[m.key] != nil && n.copies[m.key].Equal(m.pid) {
			delete(n.copies, m.key)
		}
	}
}

type copyGone struct {
	key string
	pid *actor.PID
}

// tick asks the copy actor to check its lease and claim it over the
// remote.
type tick struct{}

// copyActor runs one copy: it claims the lease, starts the process actor
// once granted, renews the lease, forwards the process's notifications to
// the owner, and reports STOPPED last.
//
// Its renewals go by datagram where the owner answers them (renew.go):
// one goroutine sends the claims and extends the lease as the grants come
// back; the actor sees a tick only when the last datagram went unanswered
// (it claims over the remote too), and the first grant, a refusal, and
// any grant that came over the remote.
type copyActor struct {
	node  *node
	start *wire.Start
	owner *actor.PID
	token string
	dg    *datagrams // connected to the owner's grant server; nil: none

	system *actor.ActorSystem
	self   *actor.PID

	mu       sync.Mutex
	deadline int64 // CLOCK_MONOTONIC ns; 0 before the first grant
	ended    bool  // the lease was lost: no grant extends it
	running  bool  // granted once: later grants are extended where they arrive

	proc     *actor.PID
	stopping bool
	firstT   *time.Timer // claims over the remote when the first grant is late
	lastExit *wire.Exit
	lastPid  int32
	first    int64 // when the first claim was sent
	cancel   context.CancelFunc
	done     chan struct{}

	// Events (send): numbered; those sent by datagram wait, until the
	// owner says it took them or eventWait passes, to go over the remote.
	seq     uint64
	waiting []*wire.Event
	flushT  *time.Timer
	taken   atomic.Uint64 // the owner's answers: its last event taken
	udp     atomic.Bool   // a claim by datagram was answered, none since unanswered
	over    bool          // STOPPED sent: the actor ends once it is taken or flushed
	last    atomic.Uint64 // STOPPED's seq, once sent
}

// eventWait is how long an event sent by datagram waits for the owner's
// answer before it goes over the remote too: a lost datagram's delay.
const eventWait = 20 * time.Millisecond

// flushEvents sends over the remote the events the owner has not said it
// took.
type flushEvents struct{}

// firstLate: no grant came within eventWait of a first claim sent by
// datagram alone; it is sent over the remote.
type firstLate struct{}

func (c *copyActor) lease() time.Duration { return time.Duration(c.start.GetLeaseNs()) }

func (c *copyActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.system, c.self = ctx.ActorSystem(), ctx.Self()
		if c.start.GetRenewUdp() {
			c.dg = dialOwner(c.start.GetOwnerAddress())
		}
		if _, ok := c.node.answering.Load(c.start.GetOwnerAddress()); c.dg != nil && ok {
			// The owner answered datagrams the last time: the first
			// claim goes by datagram alone, over the remote too only
			// when its grant is late.
			c.first = mono.Now()
			system, self := c.system, c.self
			c.firstT = time.AfterFunc(eventWait, func() { system.Root.Send(self, firstLate{}) })
		} else {
			c.claim(ctx)
		}
		tctx, cancel := context.WithCancel(context.Background())
		c.cancel, c.done = cancel, make(chan struct{})
		go func() {
			defer close(c.done)
			if c.dg != nil {
				c.renewByDatagram(tctx)
			} else {
				c.renewByTicks(tctx)
			}
		}()
	case tick:
		if c.over {
			return
		}
		c.mu.Lock()
		deadline := c.deadline
		c.mu.Unlock()
		if deadline != 0 && mono.Now() > deadline {
			c.lost(ctx) // the keeper kills it; stop what is left
			return
		}
		c.claim(ctx)
		if deadline == 0 && time.Duration(mono.Now()-c.claimedAt()) > max(10*c.lease(), 5*time.Second) {
			c.stopped(ctx) // never granted in time: the owner gave up on this node
		}
	case *wire.Grant:
		if !m.GetOk() {
			c.lost(ctx)
			return
		}
		if !c.extend(m) {
			return // a late answer
		}
		c.mu.Lock()
		c.running = true
		c.mu.Unlock()
		if c.proc == nil && !c.stopping {
			c.run(ctx)
		}
	case *wire.Stop:
		c.stopping = true
		if c.proc == nil {
			c.stopped(ctx)
			return
		}
		ctx.Stop(c.proc)
	case actors.Notification:
		c.keep(m)
		if ev, ok := eventToWire(m); ok {
			if ev.Kind == wire.Event_EXITED {
				c.lastExit, c.lastPid = ev.Exit, ev.Pid
			}
			c.send(ctx, ev)
		}
	case *actor.Terminated:
		if c.proc != nil && m.Who.Equal(c.proc) {
			c.stopped(ctx)
		}
	case firstLate:
		c.mu.Lock()
		granted := c.deadline != 0
		c.mu.Unlock()
		if !granted && !c.stopping {
			c.claim(ctx)
		}
	case flushEvents:
		c.flush(ctx)
		if c.over {
			ctx.Stop(ctx.Self())
		}
	case *actor.Stopping:
		if c.flushT != nil {
			c.flushT.Stop()
		}
		if c.firstT != nil {
			c.firstT.Stop()
		}
		c.flush(ctx)
		c.cancel()
		if c.dg != nil {
			_ = c.dg.conn.Close()
		}
		<-c.done
		c.mu.Lock()
		c.ended = true // a grant being read now leaves the keeper alone
		c.mu.Unlock()
		c.node.keeper.drop(c.token)
	case *actor.Stopped:
		ctx.Send(ctx.Parent(), &copyGone{key: c.start.GetKey(), pid: ctx.Self()})
	}
}

// renewByTicks ticks the actor every third of the lease until ctx ends:
// it renews the lease over the remote.
func (c *copyActor) renewByTicks(ctx context.Context) {
	t := time.NewTicker(max(c.lease()/3, time.Millisecond))
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		last = c.heldUp(last)
		c.system.Root.Send(c.self, tick{})
	}
}

// renewByDatagram renews the lease by datagram, every third of it, until
// ctx ends and the copy's socket is closed: a periodic timer sends the
// claims, and ticks the actor, which claims over the remote, after a
// claim that no grant extended the lease for; a reader takes the grants
// as they come. Both wait in the runtime's poller (renew_linux.go), so a
// renewal wakes one thread for the claim and one for the grant.
func (c *copyActor) renewByDatagram(ctx context.Context) {
	t, err := newTicks(max(c.lease()/3, time.Millisecond))
	if err != nil {
		c.renewByTicks(ctx) // over the remote alone
		return
	}
	stop := context.AfterFunc(ctx, t.close)
	defer func() {
		if stop() {
			t.close()
		}
	}()
	var answered, heard atomic.Bool
	owner := c.start.GetOwnerAddress()
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, renewalSize)
		for {
			n, err := c.dg.recv(buf, nil)
			switch {
			case err == nil:
				g := &wire.Grant{}
				if proto.Unmarshal(buf[:n], g) != nil || g.GetKey() != c.start.GetKey() || g.GetEpoch() != c.start.GetEpoch() {
					break
				}
				if t := g.GetEventsTaken(); t != 0 {
					if t > c.taken.Load() {
						c.taken.Store(t) // this goroutine alone stores
						if last := c.last.Load(); last != 0 && t >= last {
							c.system.Root.Send(c.self, flushEvents{}) // the end was taken
						}
					}
					break
				}
				c.udp.Store(true)
				if !heard.Swap(true) {
					if _, ok := c.node.answering.Load(owner); !ok {
						c.node.answering.Store(owner, struct{}{})
					}
				}
				if c.datagramGrant(g) {
					answered.Store(true)
				}
			case errors.Is(err, net.ErrClosed):
				return
			}
			// Any other error (refused: nothing listens there now): read on.
		}
	}()
	defer func() { <-read }()
	c.claimByDatagram()
	var last int64
	for t.wait() == nil {
		last = c.heldUp(last)
		c.mu.Lock()
		ended := c.ended
		c.mu.Unlock()
		if ended {
			continue
		}
		wasAnswered := answered.Swap(false)
		if !heard.Swap(false) {
			c.node.answering.Delete(owner) // no grant at all by datagram since the last claim
		}
		c.claimByDatagram()
		if !wasAnswered {
			c.udp.Store(false)
			c.system.Root.Send(c.self, tick{})
		}
	}
}

// heldUp warns when the renewals are late (the agent was held up: a
// loaded machine, a pause), so its leases may run out; it returns now.
func (c *copyActor) heldUp(last int64) int64 {
	now := mono.Now()
	if late := time.Duration(now - last); last != 0 && late > c.lease()/2 {
		c.node.log.Warn("agent held up", "key", c.start.GetKey(), "for", late)
	}
	return now
}

// claimByDatagram sends a claim to the owner's grant server.
func (c *copyActor) claimByDatagram() {
	b, err := proto.Marshal(&wire.Renewal{
		OwnerId: c.start.GetOwnerId(),
		Claim:   &wire.Claim{Key: c.start.GetKey(), Epoch: c.start.GetEpoch(), Node: c.node.name, SentNs: mono.Now()},
	})
	if err == nil {
		_ = c.dg.send(b, nil)
	}
}

// datagramGrant takes a grant that came by datagram: once the copy runs,
// the lease is extended here; the first grant and a refusal go to the
// actor. It reports whether the grant extended the lease here: one handed
// to the actor does not count, as the actor may take it too late.
func (c *copyActor) datagramGrant(g *wire.Grant) bool {
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	if !g.GetOk() || !running {
		c.system.Root.Send(c.self, g)
		return false
	}
	return c.extend(g)
}

// extend moves the lease's deadline to the one g grants, counted from
// the claim it answers; false for a late answer, one from the future (no
// claim of this node's), or a lost lease.
func (c *copyActor) extend(g *wire.Grant) bool {
	now := mono.Now()
	at := g.GetSentNs() + int64(c.lease()-leaseMargin(c.lease()))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || g.GetSentNs() > now || at <= now || at <= c.deadline {
		return false
	}
	c.deadline = at
	c.node.keeper.set(c.token, at)
	return true
}

// keep names the copy's processes to the lease keeper as they become
// known, so that it can kill them at once when the lease ends.
func (c *copyActor) keep(n actors.Notification) {
	k := c.node.keeper
	switch m := n.(type) {
	case *actors.ProcessReady:
		k.pid(c.token, m.Pid)
		if m.Group != nil {
			for _, p := range m.Group.Spares() {
				k.pid(c.token, p.Pid())
			}
		}
	case *actors.ProcessSpareReady:
		k.pid(c.token, m.Pid)
	case *actors.ProcessPromoted:
		k.pid(c.token, m.Promoted.To)
	}
}

// leaseToken names a copy's lease, in the keeper's lines and in the
// copy's environment: one word, whatever the names.
func leaseToken(node, key string, epoch uint64) string {
	h := fnv.New64a()
	h.Write([]byte(node))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return fmt.Sprintf("%016x-%d", h.Sum64(), epoch)
}

func (c *copyActor) claimedAt() int64 {
	if c.first == 0 {
		return mono.Now()
	}
	return c.first
}

func (c *copyActor) claim(ctx actor.Context) {
	now := mono.Now()
	if c.first == 0 {
		c.first = now
	}
	ctx.Request(c.owner, &wire.Claim{Key: c.start.GetKey(), Epoch: c.start.GetEpoch(), Node: c.node.name, SentNs: now})
}

// run starts the copy's process actor, its lease granted.
func (c *copyActor) run(ctx actor.Context) {
	s := c.start
	spec := fromWire(s.GetSpec(), c.token, c.node.name, s.GetEpoch())
	props, _, err := actors.NewProps(spec, actors.Options{
		Observer:    ctx.Self(),
		Kill:        s.GetKill(),
		Incarnation: int(s.GetIncarnation()),
		Standby:     int(s.GetStandby()),
	})
	if err != nil {
		c.send(ctx, &wire.Event{Kind: wire.Event_START_FAILED, Err: err.Error()})
		c.stopped(ctx)
		return
	}
	pid, err := ctx.SpawnNamed(props, "process")
	if err != nil {
		c.send(ctx, &wire.Event{Kind: wire.Event_START_FAILED, Err: err.Error()})
		c.stopped(ctx)
		return
	}
	c.proc = pid
	c.node.log.Info("copy started", "key", s.GetKey(), "epoch", s.GetEpoch())
}

// lost: the lease could not be renewed, or was revoked. The copy is
// killed at once (the keeper does it too, at the deadline).
func (c *copyActor) lost(ctx actor.Context) {
	if c.stopping {
		return // on its way out already
	}
	c.node.log.Warn("lease lost", "key", c.start.GetKey(), "epoch", c.start.GetEpoch())
	c.mu.Lock()
	c.ended = true
	c.node.keeper.set(c.token, mono.Now())
	c.mu.Unlock()
	if c.proc == nil {
		c.stopped(ctx)
		return
	}
	c.stopping = true
	ctx.Stop(c.proc)
}

// stopped reports the copy gone and ends the actor: at once when the
// events went over the remote, else once the owner says it took STOPPED,
// or they go over the remote after eventWait. Meanwhile nothing starts
// and nothing claims.
func (c *copyActor) stopped(ctx actor.Context) {
	if c.over {
		return
	}
	c.over, c.stopping, c.proc = true, true, nil
	c.send(ctx, &wire.Event{Kind: wire.Event_STOPPED, Pid: c.lastPid, Exit: c.lastExit})
	c.node.log.Info("copy ended", "key", c.start.GetKey(), "epoch", c.start.GetEpoch())
	if len(c.waiting) == 0 {
		ctx.Stop(ctx.Self())
		return
	}
	c.last.Store(c.seq)
	if c.taken.Load() >= c.seq {
		ctx.Stop(ctx.Self()) // taken already: the answer came before last was set
	}
}

// send sends ev to the owner, numbered: by datagram where the owner
// answers them, and over the remote, the path of record, unless the owner
// says it took it within eventWait (renew.go). Every event goes both ways
// at once while the owner's answers to claims by datagram do not come.
func (c *copyActor) send(ctx actor.Context, ev *wire.Event) {
	c.seq++
	ev.Key, ev.Epoch, ev.Node, ev.Seq = c.start.GetKey(), c.start.GetEpoch(), c.node.name, c.seq
	c.waiting = append(c.waiting, ev)
	if c.dg == nil {
		c.flush(ctx)
		return
	}
	b, err := proto.Marshal(&wire.Renewal{OwnerId: c.start.GetOwnerId(), Event: ev})
	if err != nil || len(b) >= renewalSize || c.dg.send(b, nil) != nil || !c.udp.Load() {
		c.flush(ctx)
		return
	}
	if c.flushT == nil {
		system, self := c.system, c.self
		c.flushT = time.AfterFunc(eventWait, func() { system.Root.Send(self, flushEvents{}) })
	} else if len(c.waiting) == 1 {
		c.flushT.Reset(eventWait)
	}
}

// flush sends over the remote, in order, the events waiting that the
// owner has not said it took.
func (c *copyActor) flush(ctx actor.Context) {
	taken := c.taken.Load()
	for _, ev := range c.waiting {
		if ev.GetSeq() > taken {
			ctx.Send(c.owner, ev)
		}
	}
	c.waiting = nil
}

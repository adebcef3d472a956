package cluster

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/internal/cluster/wire"
	"github.com/understudy/understudy/internal/mono"
)

// ErrNodeLost: a remote child's node stopped renewing its lease (it died,
// or it is cut off, or paused) and the lease expired: the copy there is
// gone, or will never be granted again.
var ErrNodeLost = errors.New("node lost")

// ErrNoNode: no node of a remote child's list answered.
var ErrNoNode = errors.New("no node reachable")

// DefaultLease is the lease of a Config whose Lease is zero.
const DefaultLease = time.Second

// ownerActorName is the prefix of the names of the actors (one per
// client) that nodes send Claim and Event to.
const ownerActorName = "understudy-owner"

// Config configures the supervising program's side.
type Config struct {
	Listen string            // host:port; "" means 127.0.0.1:0
	Nodes  map[string]string // node name → its agent's host:port
	Lease  time.Duration     // 0: DefaultLease
}

// ownerSystem is the one actor system a supervising program reaches its
// nodes through, shared by its trees and kept for the program's life:
// protoactor's remote sets gRPC's global logger each time one starts,
// racing with the gRPC goroutines an earlier one leaves behind.
var ownerSystem struct {
	mu     sync.Mutex
	system *actor.ActorSystem
	listen string
	grants *grantServer // nil: none open
}

// sharedSystem returns the program's owner system, started on listen
// the first time.
func sharedSystem(listen string) (*actor.ActorSystem, error) {
	o := &ownerSystem
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.system != nil {
		if listen != "127.0.0.1:0" && listen != o.listen && listen != o.system.Address() {
			return nil, fmt.Errorf("cluster: listen on %s: this program listens for its nodes on %s already", listen, o.system.Address())
		}
		return o.system, nil
	}
	system, _, err := newSystem(listen)
	if err != nil {
		return nil, err
	}
	o.system, o.listen = system, listen
	return system, nil
}

// Client is the supervising program's side: it places copies on nodes
// and grants their leases.
type Client struct {
	system   *actor.ActorSystem
	owner    *actor.PID
	nodes    map[string]string
	lease    time.Duration
	attempt  time.Duration
	notBefor int64                   // CLOCK_MONOTONIC ns: no lease is granted before (see NewClient)
	grants   *grantServer            // the program's; nil: claims are answered over the remote alone
	nodeUDP  map[string]*net.UDPAddr // node name → where its Starts go by datagram

	deliver sync.Mutex // orders the events told, from either path

	mu     sync.Mutex
	copies map[string]*Copy  // key → its current copy
	lost   map[string]string // key → the node its last copy was lost on
	epoch  uint64
	closed bool
	wg     sync.WaitGroup
}

// NewClient starts the supervising program's side. No copy is placed
// before one lease has passed since: a copy this program's previous run
// placed (before it was killed, say) has lost its lease by then.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	system, err := sharedSystem(cfg.Listen)
	if err != nil {
		return nil, err
	}
	c := &Client{
		system: system, nodes: cfg.Nodes, lease: cfg.Lease,
		attempt:  max(cfg.Lease, 500*time.Millisecond),
		notBefor: mono.Now() + int64(cfg.Lease),
		copies:   map[string]*Copy{},
		lost:     map[string]string{},
	}
	c.owner = system.Root.SpawnPrefix(actor.PropsFromFunc(c.receive), ownerActorName)
	c.grants = grantsFor(c)
	if c.grants != nil {
		c.nodeUDP = map[string]*net.UDPAddr{}
		for n, addr := range c.nodes {
			if a, err := net.ResolveUDPAddr("udp", addr); err == nil {
				c.nodeUDP[n] = a
			}
		}
	}
	// Open the connections both ways now: a failover should not wait
	// for a dial.
	for _, addr := range c.nodes {
		system.Root.Send(actor.NewPID(addr, nodeActorName), &wire.Hello{OwnerAddress: c.owner.GetAddress(), OwnerId: c.owner.GetId()})
	}
	return c, nil
}

// Close revokes every lease and stops the client; nodes kill their copies
// when the leases end.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	for _, cp := range c.copies {
		cp.endLocked(nil)
	}
	c.mu.Unlock()
	c.wg.Wait()
	if c.grants != nil {
		grantsDone(c)
	}
	_ = c.system.Root.StopFuture(c.owner).Wait()
}

// Lease returns the lease length.
func (c *Client) Lease() time.Duration { return c.lease }

func (c *Client) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *wire.Claim:
		overRemote.Add(1)
		ctx.Respond(c.claim(m, nil))
	case *wire.Event:
		overRemote.Add(1)
		if !dropRemoteEvents.Load() {
			c.event(m, "")
		}
	case *wire.Hello:
		c.answered(m.GetNode())
	}
}

// answered tells the copies that prefer node to the one they run on (a
// takeover) that it answers again.
func (c *Client) answered(node string) {
	var movers []*Copy
	c.mu.Lock()
	for _, cp := range c.copies {
		if cp.ready && !cp.ended && !cp.moving && rank(cp.prefer, node) < rank(cp.prefer, cp.node) {
			cp.moving = true
			movers = append(movers, cp)
		}
	}
	c.mu.Unlock()
	for _, cp := range movers {
		cp.notify(Rejoined{Node: node})
	}
}

// rank is the place of node in prefer; past its end when it is not there.
func rank(prefer []string, node string) int {
	if i := slices.Index(prefer, node); i >= 0 {
		return i
	}
	return len(prefer)
}

// claim grants or refuses a lease: granted only to the node the current
// copy of the key was placed on, in its epoch, while it is not ended.
// from is the source of a claim that came by datagram (nil: over the
// remote): the first granted names the copy's socket, the one source its
// events are taken from by datagram.
func (c *Client) claim(m *wire.Claim, from *peer) *wire.Grant {
	g := &wire.Grant{Key: m.GetKey(), Epoch: m.GetEpoch(), SentNs: m.GetSentNs()}
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.copies[m.GetKey()]
	if cp == nil || cp.epoch != m.GetEpoch() || cp.node != m.GetNode() || cp.ended {
		return g
	}
	g.Ok = true
	if from != nil && cp.peer == "" {
		cp.peer = from.key()
	}
	cp.lastGrant = mono.Now()
	if !cp.granted {
		cp.granted = true
		close(cp.grantc)
	}
	return g
}

// event takes a copy's event, which may come twice from a node that
// sends it by datagram too (from: the datagram's source; "" over the
// remote): a numbered event is taken once, and in its order. One that
// comes by datagram ahead of an earlier one not taken yet (that datagram
// lost or late) is left to come over the remote, which keeps the order.
// It returns the seq of the copy's last event taken, 0 when none or the
// event is not of the current copy.
func (c *Client) event(m *wire.Event, from string) (taken uint64) {
	c.deliver.Lock()
	defer c.deliver.Unlock()
	c.mu.Lock()
	cp := c.copies[m.GetKey()]
	if cp == nil || cp.epoch != m.GetEpoch() || cp.node != m.GetNode() || from != "" && from != cp.peer {
		c.mu.Unlock()
		return 0
	}
	if seq := m.GetSeq(); seq != 0 {
		if seq != cp.seq+1 {
			c.mu.Unlock()
			return cp.seq // taken already, or ahead of one not taken yet
		}
		cp.seq = seq
	}
	taken = cp.seq
	switch m.GetKind() {
	case wire.Event_STOPPED:
		cp.endLocked(m)
	case wire.Event_READY:
		cp.ready = true
	}
	c.mu.Unlock()
	cp.notify(m)
	return taken
}

// lostNode returns the node the last copy of key was lost on, if any.
func (c *Client) lostNode(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lost[key]
}

// Lost is told to a copy's owner when its node's lease expired.
type Lost struct{ Err error }

// PlaceFailed is told when no node of the list took the copy.
type PlaceFailed struct{ Err error }

// Rejoined is told, once, to the owner of a ready copy placed with a
// takeover list when a node earlier in it than the copy's answers.
type Rejoined struct{ Node string }

// Copy is one copy of a remote child, placed on the first node of its list
// that claims it, under a lease.
type Copy struct {
	c      *Client
	key    string
	epoch  uint64
	start  *wire.Start
	order  []string
	prefer []string  // a takeover's order of preference; nil: none
	notify func(any) // *wire.Event, Lost, PlaceFailed, Rejoined; from other goroutines

	// under c.mu
	node      string // the node it is placed on, or being offered to
	granted   bool
	grantc    chan struct{}
	lastGrant int64
	seq       uint64 // of the last event taken from its node
	peer      string // the source of its node's datagrams; "": none yet
	ready     bool   // its process said it is ready
	moving    bool   // told Rejoined
	ended     bool
	endc      chan struct{}
	stopEv    *wire.Event
}

// Node returns the node the copy runs on (or was last offered to).
func (cp *Copy) Node() string {
	cp.c.mu.Lock()
	defer cp.c.mu.Unlock()
	return cp.node
}

// Epoch returns the copy's epoch.
func (cp *Copy) Epoch() uint64 { return cp.epoch }

// Place places a copy of the child key on the first node of order that
// claims it, and follows its lease. notify gets the copy's events, then
// Lost or PlaceFailed, from other goroutines. With prefer (a takeover),
// the nodes earlier in prefer than the copy's are asked every lease
// whether they answer, and the first that does is told as Rejoined.
func (c *Client) Place(key string, spec *wire.Spec, standby int, kill bool, incarnation int, order, prefer []string, notify func(any)) (*Copy, error) {
	for _, n := range order {
		if _, ok := c.nodes[n]; !ok {
			return nil, fmt.Errorf("cluster: node %q has no address", n)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("cluster: closed")
	}
	// Epochs rise across runs of the program too: they start from the
	// wall clock.
	c.epoch = max(c.epoch+1, uint64(time.Now().UnixNano()))
	cp := &Copy{
		c: c, key: key, epoch: c.epoch, order: slices.Clone(order), prefer: slices.Clone(prefer), notify: notify,
		endc: make(chan struct{}),
		start: &wire.Start{
			Key: key, Epoch: c.epoch, Spec: spec, Standby: int32(standby), Kill: kill,
			LeaseNs: int64(c.lease), Incarnation: int32(incarnation),
			OwnerAddress: c.owner.GetAddress(), OwnerId: c.owner.GetId(),
			RenewUdp: c.grants != nil,
		},
	}
	if old := c.copies[key]; old != nil {
		old.endLocked(nil)
	}
	c.copies[key] = cp
	c.wg.Add(1)
	go cp.run()
	return cp, nil
}

// endLocked ends the copy: its leases are refused from now on.
func (cp *Copy) endLocked(stop *wire.Event) {
	if cp.ended {
		return
	}
	cp.ended, cp.stopEv = true, stop
	close(cp.endc)
	if cp.c.copies[cp.key] == cp {
		delete(cp.c.copies, cp.key)
	}
}

// run offers the copy to each node in turn until one claims it, then
// watches its lease until the copy ends.
func (cp *Copy) run() {
	defer cp.c.wg.Done()
	c := cp.c
	if wait := time.Duration(c.notBefor - mono.Now()); wait > 0 {
		select {
		case <-time.After(wait):
		case <-cp.endc:
			return
		}
	}
	var tried []string
	for _, n := range cp.order {
		c.mu.Lock()
		if cp.ended {
			c.mu.Unlock()
			return
		}
		cp.node, cp.granted, cp.grantc = n, false, make(chan struct{})
		cp.seq, cp.peer = 0, ""
		grantc := cp.grantc
		c.mu.Unlock()
		c.sendStart(cp.start, c.nodeUDP[n])
		c.system.Root.Send(actor.NewPID(c.nodes[n], nodeActorName), cp.start)
		t := time.NewTimer(c.attempt)
		select {
		case <-grantc:
			t.Stop()
			cp.watch()
			return
		case <-cp.endc:
			t.Stop()
			return
		case <-t.C:
			tried = append(tried, n)
		}
	}
	c.mu.Lock()
	cp.node = ""
	cp.endLocked(nil)
	c.mu.Unlock()
	cp.notify(PlaceFailed{Err: fmt.Errorf("%w: %v did not answer within %v", ErrNoNode, tried, c.attempt)})
}

// watch waits for the copy's end or its lease's expiry; for a takeover,
// it asks the nodes it prefers whether they answer, every lease.
func (cp *Copy) watch() {
	c := cp.c
	t := time.NewTimer(c.lease)
	defer t.Stop()
	if len(cp.prefer) > 0 {
		c.wg.Add(1)
		go cp.probeEvery(c.lease)
	}
	for {
		select {
		case <-cp.endc:
			return
		case <-t.C:
		}
		c.mu.Lock()
		left := time.Duration(cp.lastGrant + int64(c.lease) - mono.Now())
		if left > 0 {
			c.mu.Unlock()
			t.Reset(left)
			continue
		}
		node := cp.node
		cp.endLocked(nil)
		c.lost[cp.key] = node
		c.mu.Unlock()
		cp.notify(Lost{Err: fmt.Errorf("node %s: %w: no renewal for %v", node, ErrNodeLost, c.lease)})
		return
	}
}

// probeEvery probes the nodes the copy prefers every period until the
// copy ends.
func (cp *Copy) probeEvery(period time.Duration) {
	defer cp.c.wg.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-cp.endc:
			return
		case <-t.C:
			cp.probe(min(period, time.Second))
		}
	}
}

// probe sends a Hello to each node the copy prefers to its own that
// takes a TCP connection within timeout: the ones that answer are told
// to answered. The connection comes first because protoactor's remote,
// sent a message for a node that does not listen, retries for seconds
// and leaves a gRPC connection behind each try.
func (cp *Copy) probe(timeout time.Duration) {
	c := cp.c
	c.mu.Lock()
	prefer, node, ready := cp.prefer, cp.node, cp.ready && !cp.moving && !cp.ended
	c.mu.Unlock()
	if !ready {
		return
	}
	hello := &wire.Hello{OwnerAddress: c.owner.GetAddress(), OwnerId: c.owner.GetId()}
	for _, n := range prefer[:min(rank(prefer, node), len(prefer))] {
		conn, err := net.DialTimeout("tcp", c.nodes[n], timeout)
		if err != nil {
			continue
		}
		_ = conn.Close()
		c.system.Root.Send(actor.NewPID(c.nodes[n], nodeActorName), hello)
	}
}

// Stop stops the copy within grace, and returns its STOPPED event (nil
// when the node did not confirm it). A copy not granted yet is abandoned.
// Past grace the lease is revoked and Stop waits for it to expire: when
// Stop returns, no process of the copy runs, or its node kills it.
func (cp *Copy) Stop(grace time.Duration) *wire.Event {
	c := cp.c
	c.mu.Lock()
	if cp.ended {
		ev := cp.stopEv
		c.mu.Unlock()
		return ev
	}
	if !cp.granted {
		cp.endLocked(nil)
		c.mu.Unlock()
		return nil
	}
	node := cp.node
	c.mu.Unlock()
	c.system.Root.Send(actor.NewPID(c.nodes[node], nodeActorName), &wire.Stop{Key: cp.key, Epoch: cp.epoch})
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-cp.endc:
		c.mu.Lock()
		defer c.mu.Unlock()
		return cp.stopEv
	case <-t.C:
	}
	c.mu.Lock()
	left := time.Duration(cp.lastGrant + int64(c.lease) - mono.Now())
	cp.endLocked(nil)
	c.mu.Unlock()
	if left > 0 {
		time.Sleep(left) // the lease expires: the node has killed it
	}
	return nil
}

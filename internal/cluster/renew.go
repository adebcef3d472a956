package cluster

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/understudy/understudy/internal/cluster/wire"
)

// Lease renewals by datagram. A renewal is a claim and its grant, a few
// dozen bytes each way, a few times a lease, for as long as a copy runs:
// over protoactor's remote each one passes through the copy actor's
// mailbox, the remote's endpoint writer, gRPC's writer and reader and the
// remote's endpoint reader on both sides, each a goroutine woken in turn,
// and on a virtual machine every thread woken costs more than the work.
// So the supervising program also answers claims sent as UDP datagrams on
// the port its remote listens on, inline, on the goroutine that reads
// them; and on a node, one goroutine a copy, waiting on the copy's own
// socket with the next renewal as its deadline, sends the claims and
// extends the lease as the grants come back.
//
// The remote stays the lease's path of record: every claim after one
// whose datagram went unanswered (a lost datagram, a firewall that drops
// UDP) goes both ways, and so does the first claim of a copy unless the
// node's last claims to the same owner were answered by datagram; then it
// goes over the remote only when no grant came within eventWait, so a
// lease never rests on datagrams alone.
//
// A copy's events (ready, exited, stopped) go by datagram too, from the
// copy's socket, numbered: the one that counts is READY after a restart,
// sent while the new worker's runtime starts and takes the machine's
// CPUs, when each goroutine the remote wakes in turn can wait
// milliseconds for one. The owner answers with the last event it took,
// and an event goes over the remote as well when that answer does not
// come within eventWait (at once while the claims by datagram go
// unanswered). The copy's actor, which sends them, ends only once the
// last, STOPPED, is taken or has gone over the remote, so a restart,
// which waits for it, costs no message over the remote but the new
// copy's Start. The owner takes each event once, in
// order, from whichever path brings it first, so a datagram lost costs
// eventWait and a duplicate nothing; and it takes an event by datagram
// only from the socket the copy's granted claims came from.

// renewalSize bounds a renewal datagram and its grant.
const renewalSize = 2048

// Set by tests: dropGrants makes the grant servers read every datagram
// and take none, as behind a firewall that drops them, and dropped counts
// the datagrams so read; dropRemoteEvents makes the clients drop every
// event that comes over the remote, so that each must come by datagram,
// and dropEventDatagrams every event that comes by datagram, so that
// each must come over the remote. overRemote counts the claims and
// events the clients took over the remote.
var (
	dropGrants         atomic.Bool
	dropped            atomic.Int64
	overRemote         atomic.Int64
	dropRemoteEvents   atomic.Bool
	dropEventDatagrams atomic.Bool
)

// grantServer answers the claims that reach a supervising program by
// datagram, and takes the events, for its clients.
type grantServer struct {
	d    *datagrams
	done chan struct{}

	mu      sync.Mutex
	clients map[string]*Client // owner actor id → its client
}

// listenDatagrams opens a UDP socket bound to addr (host:port).
func listenDatagrams(addr string) (*datagrams, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	d, err := newDatagrams(conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return d, nil
}

// listenGrants opens the grant server on addr (the remote's host:port).
func listenGrants(addr string) (*grantServer, error) {
	d, err := listenDatagrams(addr)
	if err != nil {
		return nil, err
	}
	g := &grantServer{d: d, done: make(chan struct{}), clients: map[string]*Client{}}
	go g.serve()
	return g, nil
}

func (g *grantServer) serve() {
	defer close(g.done)
	buf := make([]byte, renewalSize)
	var r wire.Renewal
	from := &peer{}
	for {
		n, err := g.d.recv(buf, from)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a datagram too large, an ICMP error: not ours to end on
		}
		if n == len(buf) || proto.Unmarshal(buf[:n], &r) != nil {
			continue // maybe cut short: every renewal is shorter
		}
		g.mu.Lock()
		c := g.clients[r.GetOwnerId()]
		g.mu.Unlock()
		if c == nil {
			continue
		}
		if dropGrants.Load() {
			dropped.Add(1)
			continue
		}
		if ev := r.GetEvent(); ev != nil {
			src := from.key()
			if src == "" || dropEventDatagrams.Load() {
				continue
			}
			// The answer says which events need not come over the
			// remote; 0 would read as a refused lease.
			if taken := c.event(ev, src); taken != 0 {
				ack := &wire.Grant{Key: ev.GetKey(), Epoch: ev.GetEpoch(), EventsTaken: taken}
				if out, err := proto.Marshal(ack); err == nil {
					_ = g.d.send(out, from)
				}
			}
			continue
		}
		if r.GetClaim() == nil {
			continue
		}
		if out, err := proto.Marshal(c.claim(r.GetClaim(), from)); err == nil {
			_ = g.d.send(out, from)
		}
	}
}

// close stops the server and waits for it.
func (g *grantServer) close() {
	_ = g.d.conn.Close()
	<-g.done
}

// grantsFor registers c with the program's grant server, opening it with
// the first client, and returns it; nil when it cannot listen (the nodes
// then renew over the remote alone).
func grantsFor(c *Client) *grantServer {
	o := &ownerSystem
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.grants == nil {
		g, err := listenGrants(o.system.Address())
		if err != nil {
			return nil
		}
		o.grants = g
	}
	o.grants.mu.Lock()
	o.grants.clients[c.owner.GetId()] = c
	o.grants.mu.Unlock()
	return o.grants
}

// grantsDone unregisters c, and closes the grant server after the last
// client.
func grantsDone(c *Client) {
	o := &ownerSystem
	o.mu.Lock()
	defer o.mu.Unlock()
	g := o.grants
	if g == nil {
		return
	}
	g.mu.Lock()
	delete(g.clients, c.owner.GetId())
	last := len(g.clients) == 0
	g.mu.Unlock()
	if last {
		g.close()
		o.grants = nil
	}
}

// startServer takes the Starts that reach a node agent by datagram, on
// the port its remote listens on. A supervising program that answers
// datagrams sends each Start that way too, ahead of the remote, the path
// of record: whichever comes second is stale by its epoch, and the node
// drops it.
type startServer struct {
	d    *datagrams
	done chan struct{}
}

// listenStarts opens the start server on addr (the remote's host:port);
// take is called with each Start, on the server's goroutine.
func listenStarts(addr string, take func(*wire.Start)) (*startServer, error) {
	d, err := listenDatagrams(addr)
	if err != nil {
		return nil, err
	}
	s := &startServer{d: d, done: make(chan struct{})}
	go s.serve(take)
	return s, nil
}

func (s *startServer) serve(take func(*wire.Start)) {
	defer close(s.done)
	buf := make([]byte, renewalSize)
	for {
		n, err := s.d.recv(buf, nil)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		m := &wire.Start{}
		if n == len(buf) || proto.Unmarshal(buf[:n], m) != nil || m.GetKey() == "" || m.GetEpoch() == 0 || m.GetOwnerAddress() == "" {
			continue // cut short, or not a Start
		}
		take(m)
	}
}

// close stops the server and waits for it.
func (s *startServer) close() {
	_ = s.d.conn.Close()
	<-s.done
}

// sendStart sends m by datagram to the node agent at addr, from the
// program's grant server; nothing when c renews over the remote alone, or
// m does not fit a datagram.
func (c *Client) sendStart(m *wire.Start, addr *net.UDPAddr) {
	if c.grants == nil || addr == nil {
		return
	}
	if b, err := proto.Marshal(m); err == nil && len(b) < renewalSize {
		_, _ = c.grants.d.conn.WriteToUDP(b, addr)
	}
}

// dialOwner opens a copy's socket to the owner's grant server at addr;
// nil when it cannot (the copy renews over the remote alone).
func dialOwner(addr string) *datagrams {
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil
	}
	conn, err := net.DialUDP("udp", nil, a)
	if err != nil {
		return nil
	}
	d, err := newDatagrams(conn)
	if err != nil {
		_ = conn.Close()
		return nil
	}
	return d
}

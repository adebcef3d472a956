package cluster

import (
	"errors"
	"net"
	"net/netip"
	"sync"

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
// them, and a node sends its renewals that way from the goroutine that
// times them and extends the lease on the goroutine that reads the grant.
//
// The remote stays the lease's path of record: the first claim of a copy
// goes both ways, and so does every claim after one whose datagram went
// unanswered (a lost datagram, a firewall that drops UDP), so a lease
// never rests on datagrams alone.

// renewalSize bounds a renewal datagram and its grant.
const renewalSize = 2048

// grantServer answers the claims that reach a supervising program by
// datagram, for its clients.
type grantServer struct {
	conn *net.UDPConn
	done chan struct{}

	mu      sync.Mutex
	clients map[string]*Client // owner actor id → its client
}

// listenGrants opens the grant server on addr (the remote's host:port).
func listenGrants(addr string) (*grantServer, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	g := &grantServer{conn: conn, done: make(chan struct{}), clients: map[string]*Client{}}
	go g.serve()
	return g, nil
}

func (g *grantServer) serve() {
	defer close(g.done)
	buf := make([]byte, renewalSize)
	var r wire.Renewal
	for {
		n, from, err := g.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a datagram too large, an ICMP error: not ours to end on
		}
		if proto.Unmarshal(buf[:n], &r) != nil || r.GetClaim() == nil {
			continue
		}
		g.mu.Lock()
		c := g.clients[r.GetOwnerId()]
		g.mu.Unlock()
		if c == nil {
			continue
		}
		if out, err := proto.Marshal(c.claim(r.GetClaim())); err == nil {
			_, _ = g.conn.WriteToUDPAddrPort(out, from)
		}
	}
}

// close stops the server and waits for it.
func (g *grantServer) close() {
	_ = g.conn.Close()
	<-g.done
}

// grantsFor registers c with the program's grant server, opening it with
// the first client; false when it cannot listen (the nodes then renew
// over the remote alone).
func grantsFor(c *Client) bool {
	o := &ownerSystem
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.grants == nil {
		g, err := listenGrants(o.system.Address())
		if err != nil {
			return false
		}
		o.grants = g
	}
	o.grants.mu.Lock()
	o.grants.clients[c.owner.GetId()] = c
	o.grants.mu.Unlock()
	return true
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

// renewals is a node agent's datagram socket: its copies send their
// claims from it, and the grants come back to it.
type renewals struct {
	conn *net.UDPConn
	done chan struct{}

	mu     sync.Mutex
	copies map[renewalKey]*copyActor
}

type renewalKey struct {
	key   string
	epoch uint64
}

// listenRenewals opens a node's datagram socket, on any address and port:
// the grants come back to where the claims left from.
func listenRenewals() (*renewals, error) {
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, err
	}
	r := &renewals{conn: conn, done: make(chan struct{}), copies: map[renewalKey]*copyActor{}}
	go r.serve()
	return r, nil
}

func (r *renewals) add(c *copyActor) {
	r.mu.Lock()
	r.copies[renewalKey{c.start.GetKey(), c.start.GetEpoch()}] = c
	r.mu.Unlock()
}

func (r *renewals) remove(c *copyActor) {
	r.mu.Lock()
	k := renewalKey{c.start.GetKey(), c.start.GetEpoch()}
	if r.copies[k] == c {
		delete(r.copies, k)
	}
	r.mu.Unlock()
}

// send sends claim to the owner at to.
func (r *renewals) send(to netip.AddrPort, ownerID string, claim *wire.Claim) {
	b, err := proto.Marshal(&wire.Renewal{OwnerId: ownerID, Claim: claim})
	if err != nil {
		return
	}
	_, _ = r.conn.WriteToUDPAddrPort(b, to)
}

func (r *renewals) serve() {
	defer close(r.done)
	buf := make([]byte, renewalSize)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		g := &wire.Grant{}
		if proto.Unmarshal(buf[:n], g) != nil {
			continue
		}
		r.mu.Lock()
		c := r.copies[renewalKey{g.GetKey(), g.GetEpoch()}]
		r.mu.Unlock()
		if c == nil || c.udp != unmap(from) {
			continue // not from the copy's owner
		}
		c.datagramGrant(g)
	}
}

// close stops the socket's reader and waits for it.
func (r *renewals) close() {
	_ = r.conn.Close()
	<-r.done
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

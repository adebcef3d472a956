//go:build !linux

package cluster

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// datagrams is a UDP socket (renew_linux.go reads and writes it with raw
// system calls).
type datagrams struct{ conn *net.UDPConn }

// peer is a datagram's source, to answer it.
type peer struct{ addr netip.AddrPort }

// key names the source, to compare it with another's.
func (p *peer) key() string { return p.addr.String() }

func newDatagrams(conn *net.UDPConn) (*datagrams, error) { return &datagrams{conn: conn}, nil }

// recv reads a datagram into buf, its source into from (nil: a connected
// socket's peer).
func (d *datagrams) recv(buf []byte, from *peer) (int, error) {
	if from == nil {
		return d.conn.Read(buf)
	}
	n, a, err := d.conn.ReadFromUDPAddrPort(buf)
	from.addr = a
	return n, err
}

// send writes b as a datagram to to (nil: a connected socket's peer).
func (d *datagrams) send(b []byte, to *peer) error {
	var err error
	if to == nil {
		_, err = d.conn.Write(b)
	} else {
		_, err = d.conn.WriteToUDPAddrPort(b, to.addr)
	}
	return err
}

// ticks is a periodic timer (renew_linux.go's waits in the runtime's
// poller).
type ticks struct {
	t    *time.Ticker
	done chan struct{}
	once sync.Once
}

func newTicks(period time.Duration) (*ticks, error) {
	return &ticks{t: time.NewTicker(period), done: make(chan struct{})}, nil
}

// wait returns at the next period, or with an error once closed.
func (t *ticks) wait() error {
	select {
	case <-t.t.C:
		return nil
	case <-t.done:
		return os.ErrClosed
	}
}

// close ends the timer; a wait in progress returns.
func (t *ticks) close() {
	t.once.Do(func() {
		t.t.Stop()
		close(t.done)
	})
}

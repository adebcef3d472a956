//go:build !linux

package cluster

import (
	"net"
	"net/netip"
)

// datagrams is a UDP socket (renew_linux.go reads and writes it with raw
// system calls).
type datagrams struct{ conn *net.UDPConn }

// peer is a datagram's source, to answer it.
type peer struct{ addr netip.AddrPort }

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

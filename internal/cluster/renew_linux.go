package cluster

import (
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// datagrams is a non-blocking UDP socket read and written with raw system
// calls, which cannot block on it: a blocking call's bookkeeping (the
// runtime's entersyscall) wakes the runtime's monitor thread when the
// process was idle, and a renewal would so wake a third thread for each
// datagram. Readiness is waited for in the runtime's poller, as for any
// socket, deadlines included.
type datagrams struct {
	conn *net.UDPConn
	rc   syscall.RawConn
}

// peer is a datagram's source, to answer it.
type peer struct {
	sa  syscall.RawSockaddrAny
	len uint32
}

// key names the source, to compare it with another's: its address, as
// many bytes of it as the kernel wrote.
func (p *peer) key() string {
	n := min(uintptr(p.len), unsafe.Sizeof(p.sa))
	return string(unsafe.Slice((*byte)(unsafe.Pointer(&p.sa)), n))
}

func newDatagrams(conn *net.UDPConn) (*datagrams, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &datagrams{conn: conn, rc: rc}, nil
}

// recv reads a datagram into buf, its source into from (nil: a connected
// socket's peer).
func (d *datagrams) recv(buf []byte, from *peer) (int, error) {
	var n int
	var errno syscall.Errno
	err := d.rc.Read(func(fd uintptr) bool {
		var sa, salen uintptr
		if from != nil {
			from.len = uint32(unsafe.Sizeof(from.sa))
			sa, salen = uintptr(unsafe.Pointer(&from.sa)), uintptr(unsafe.Pointer(&from.len))
		}
		r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, sa, salen)
		if e == syscall.EAGAIN || e == syscall.EINTR {
			return false
		}
		n, errno = int(r), e
		return true
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

// send writes b as a datagram to to (nil: a connected socket's peer).
func (d *datagrams) send(b []byte, to *peer) error {
	var errno syscall.Errno
	err := d.rc.Write(func(fd uintptr) bool {
		var sa, salen uintptr
		if to != nil {
			sa, salen = uintptr(unsafe.Pointer(&to.sa)), uintptr(to.len)
		}
		_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, sa, salen)
		if e == syscall.EAGAIN || e == syscall.EINTR {
			return false
		}
		errno = e
		return true
	})
	if err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// ticks is a periodic timer the runtime's poller waits on as on a socket:
// a timerfd. A Go timer would also wake the runtime's monitor thread,
// which sleeps to the next timer when the process is idle, and the
// renewals are most of what an idle node does.
type ticks struct{ f *os.File }

func newTicks(period time.Duration) (*ticks, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	ts := unix.NsecToTimespec(int64(period))
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		_ = unix.Close(fd)
		return nil, os.NewSyscallError("timerfd_settime", err)
	}
	return &ticks{f: os.NewFile(uintptr(fd), "renewals")}, nil
}

// wait returns at the next period (at once if one passed since the last
// wait: missed periods are not made up), or with an error once closed.
func (t *ticks) wait() error {
	var b [8]byte
	_, err := t.f.Read(b[:])
	return err
}

// close ends the timer; a wait in progress returns.
func (t *ticks) close() { _ = t.f.Close() }

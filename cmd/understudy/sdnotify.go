package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// systemd's service notification protocol, the client side: under
// Type=notify, systemd hands the service NOTIFY_SOCKET, a datagram socket
// (a path, or an abstract name led by '@'), and reads "KEY=VALUE" lines
// from it: READY=1 once the service is up, STOPPING=1 as it stops,
// STATUS=... for `systemctl status`, and WATCHDOG=1, which must come
// within WATCHDOG_USEC (WatchdogSec=) or systemd kills the service.

// sdNotifier sends notifications to systemd; the zero value, without
// NOTIFY_SOCKET, sends nothing.
type sdNotifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration // WATCHDOG_USEC, when it is meant for this process

	mu   sync.Mutex
	conn *net.UnixConn
}

// newSDNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and
// takes them out of the environment, so the tree's children do not
// inherit them (a child that speaks sd_notify gets its own socket from
// understudy, when its spec says notify: true). A malformed value is an
// error naming it.
func newSDNotifier() (*sdNotifier, error) {
	n := &sdNotifier{}
	sock := os.Getenv("NOTIFY_SOCKET")
	usec, pid := os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID")
	for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		os.Unsetenv(k)
	}
	if sock == "" {
		return n, nil
	}
	if sock[0] != '/' && sock[0] != '@' {
		return nil, fmt.Errorf("NOTIFY_SOCKET %q: want a path or an abstract name led by '@'", sock)
	}
	n.addr = &net.UnixAddr{Name: sock, Net: "unixgram"}
	if usec == "" {
		return n, nil
	}
	if pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return n, nil // the watchdog is another process's
	}
	us, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || us == 0 {
		return nil, fmt.Errorf("WATCHDOG_USEC %q: want a positive number of microseconds", usec)
	}
	n.watchdog = time.Duration(us) * time.Microsecond
	return n, nil
}

// notify sends one datagram of "KEY=VALUE" lines. Without NOTIFY_SOCKET
// it does nothing.
func (n *sdNotifier) notify(lines string) error {
	if n == nil || n.addr == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn == nil {
		c, err := net.DialUnix("unixgram", nil, n.addr)
		if err != nil {
			return fmt.Errorf("NOTIFY_SOCKET %s: %w", n.addr.Name, err)
		}
		n.conn = c
	}
	if _, err := n.conn.Write([]byte(lines)); err != nil {
		return fmt.Errorf("NOTIFY_SOCKET %s: %w", n.addr.Name, err)
	}
	return nil
}

func (n *sdNotifier) close() {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn != nil {
		n.conn.Close()
		n.conn = nil
	}
}

// petWatchdog sends WATCHDOG=1 every half WATCHDOG_USEC for as long as
// healthy answers nil within that half, until ctx ends. A root supervisor
// that does not answer leaves the watchdog hungry: systemd then acts as
// WatchdogSec= and Restart= say. It returns at once without a watchdog.
func (n *sdNotifier) petWatchdog(ctx context.Context, healthy func(context.Context) error, onErr func(error)) {
	if n == nil || n.addr == nil || n.watchdog <= 0 {
		return
	}
	every := n.watchdog / 2
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		hctx, cancel := context.WithTimeout(ctx, every)
		err := healthy(hctx)
		cancel()
		if err == nil {
			err = n.notify("WATCHDOG=1")
		}
		if err != nil && ctx.Err() == nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

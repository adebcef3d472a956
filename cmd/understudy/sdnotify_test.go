//go:build linux

package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// notifyListener is the systemd side of NOTIFY_SOCKET: a datagram socket
// the test reads.
func notifyListener(t *testing.T) (path string, msgs <-chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path = filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	c := make(chan string, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(c)
				return
			}
			c <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return path, c
}

// nextNotify returns the next datagram that want accepts, failing at the
// deadline.
func nextNotify(t *testing.T, msgs <-chan string, what string, want func(string) bool) string {
	t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-msgs:
			require.True(t, ok, "the socket closed before %s", what)
			if want(m) {
				return m
			}
		case <-timer.C:
			t.Fatalf("no %s within %v", what, deadline)
		}
	}
}

func is(s string) func(string) bool { return func(m string) bool { return m == s } }

// TestRunSystemdNotify: under NOTIFY_SOCKET, understudy run says READY=1
// once the tree is up, pets the watchdog at half of WATCHDOG_USEC while
// the root answers, says STOPPING=1 as it stops, and keeps STATUS=
// current; its children do not inherit the variables.
func TestRunSystemdNotify(t *testing.T) {
	path, msgs := notifyListener(t)
	sock := shortSocket(t)
	p := startCLIEnv(t, []string{"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=200000"},
		"run", "--ui", "logs", "--log-format", "json", "--socket", sock, writeSpec(t, `
children:
  - name: env
    command: sh
    args: [-c, 'echo "notify=[$NOTIFY_SOCKET] watchdog=[$WATCHDOG_USEC]"; exec sleep 1000']
    stdout: lines
`))
	nextNotify(t, msgs, "STATUS while starting", is("STATUS=starting the tree"))
	ready := nextNotify(t, msgs, "READY=1", func(m string) bool { return strings.Contains(m, "READY=1") })
	assert.Equal(t, "READY=1\nSTATUS=running", ready)
	line := p.waitFor("env's line", func(r record) bool { return r.str("msg") == "output" && r.str("child") == "env" })
	assert.Equal(t, "notify=[] watchdog=[]", line.str("line"), "not inherited")

	// The watchdog: every 100ms; three in a row, then the stop.
	var at []time.Time
	for range 3 {
		nextNotify(t, msgs, "WATCHDOG=1", is("WATCHDOG=1"))
		at = append(at, time.Now())
	}
	assert.Less(t, at[2].Sub(at[0]), 10*time.Second, "petted, not once in a while")

	p.signal(syscall.SIGTERM)
	nextNotify(t, msgs, "STOPPING=1", is("STOPPING=1\nSTATUS=stopping (terminated)"))
	nextNotify(t, msgs, "the outcome", is("STATUS=stopped cleanly"))
	assert.Equal(t, exitOK, p.wait())
}

// TestRunSystemdNotifyBad: a NOTIFY_SOCKET or WATCHDOG_USEC that is not
// one is a usage error naming it.
func TestRunSystemdNotifyBad(t *testing.T) {
	spec := writeSpec(t, "children:\n  - {name: a, command: sleep, args: [1000]}\n")
	for _, c := range []struct{ env, want string }{
		{"NOTIFY_SOCKET=relative/path", `understudy run: NOTIFY_SOCKET "relative/path": want a path or an abstract name led by '@'`},
		{"WATCHDOG_USEC=soon", `understudy run: WATCHDOG_USEC "soon": want a positive number of microseconds`},
	} {
		env := []string{"NOTIFY_SOCKET=/nonexistent/notify", c.env}
		p := startCLIEnv(t, env, "run", "--ui", "logs", "--socket", "none", spec)
		assert.Equal(t, exitUsage, p.wait(), c.env)
		assert.Contains(t, p.transcript(), c.want)
	}
}

// TestWatchdogOnlyWhileHealthy: the watchdog is petted while the root
// answers, and left hungry while it does not.
func TestWatchdogOnlyWhileHealthy(t *testing.T) {
	path, msgs := notifyListener(t)
	n := &sdNotifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}, watchdog: 20 * time.Millisecond}
	defer n.close()
	answers := make(chan error)
	asked := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var errs []error
	go func() {
		defer close(done)
		n.petWatchdog(ctx, func(ctx context.Context) error {
			select {
			case asked <- struct{}{}:
			default:
			}
			select {
			case err := <-answers:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}, func(err error) { errs = append(errs, err) })
	}()
	<-asked
	answers <- nil
	assert.Equal(t, "WATCHDOG=1", nextNotify(t, msgs, "a pet", func(string) bool { return true }))
	<-asked
	answers <- errors.New("no answer")
	<-asked
	answers <- nil
	assert.Equal(t, "WATCHDOG=1", nextNotify(t, msgs, "the next pet", func(string) bool { return true }))
	cancel()
	<-done
	select {
	case m := <-msgs:
		t.Fatalf("a datagram after the last pet: %q", m)
	default:
	}
	require.Len(t, errs, 1, "the unanswered round was reported")
	assert.EqualError(t, errs[0], "no answer")
}

//go:build jack

package jack

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// deadline bounds every wait of these tests.
const deadline = 20 * time.Second

var servers atomic.Int64

// A server is a jackd of the test's own, on the dummy driver, under a
// name of its own, stopped by the test's cleanup.
type server struct {
	name string
	cmd  *exec.Cmd
	log  bytes.Buffer
}

// startServer starts jackd -d dummy at 48 kHz and the given period, and
// waits until a client can connect. Without jackd, or when it does not
// come up, the test is skipped, or failed when UNDERSTUDY_JACK_REQUIRED=1.
func startServer(t testing.TB, frames int) *server {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("UNDERSTUDY_JACK_REQUIRED") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (UNDERSTUDY_JACK_REQUIRED=1 makes this a failure)")
	}
	path, err := exec.LookPath("jackd")
	if err != nil {
		unavailable("no JACK server can be started: jackd is not installed (Debian: apt-get install jackd2)")
	}
	// Names from a small fixed set: JACK's registry holds a few servers
	// at most, and a name used again takes over its dead server's entry.
	s := &server{name: fmt.Sprintf("understudy-jack-test-%d", servers.Add(1)%8)}
	s.cmd = exec.Command(path, "-n", s.name, "-d", "dummy", "-r", "48000", "-p", strconv.Itoa(frames))
	s.cmd.Env = append(os.Environ(), "JACK_NO_AUDIO_RESERVATION=1")
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if err := s.cmd.Start(); err != nil {
		unavailable("no JACK server can be started: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	t.Cleanup(func() { s.stop(exited) })
	// jackd says nothing when it is ready: try a client until one
	// connects.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(deadline)
	for {
		if c, err := openEmpty("probe", s.name); err == nil {
			c.close()
			return s
		}
		select {
		case err := <-exited:
			exited <- err
			unavailable("no JACK server can be started: jackd exited (%v):\n%s", err, s.log.String())
		case <-timeout:
			unavailable("no JACK server can be started: jackd did not take a client within %v:\n%s", deadline, s.log.String())
		case <-tick.C:
		}
	}
}

// stop stops jackd: SIGTERM, then SIGKILL.
func (s *server) stop(exited chan error) {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		exited <- <-exited
	}
}

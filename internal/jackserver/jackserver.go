// Package jackserver starts a JACK server of a test's own, for the tests
// that play through one: jackd on its dummy driver, or, with
// UNDERSTUDY_JACK_SERVER=pipewire, a headless PipeWire daemon whose driver
// is its own dummy one (the tests then run under pw-jack, so that the
// libjack they load is PipeWire's). Only tests import it.
package jackserver

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Deadline bounds the wait for a server to take clients.
const Deadline = 20 * time.Second

// A Server is a JACK server started by Start, stopped by the test's
// cleanup.
type Server struct {
	Name   string    // the server's name, for jack_client_open
	Cmd    *exec.Cmd // jackd or pipewire
	mu     sync.Mutex
	log    bytes.Buffer
	exited chan error
}

// Log returns what the server printed so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *Server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Write(p)
}

// PipeWire reports whether the tests run against PipeWire's JACK.
func PipeWire() bool { return os.Getenv("UNDERSTUDY_JACK_SERVER") == "pipewire" }

// Start starts a server named name at 48 kHz and the given period, and
// waits until it takes clients (jack_wait). Without the server's program,
// or when it does not come up, the test is skipped, or failed when
// UNDERSTUDY_JACK_REQUIRED=1.
func Start(t testing.TB, name string, frames int) *Server {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := "no JACK server can be started: " + fmt.Sprintf(format, args...)
		if os.Getenv("UNDERSTUDY_JACK_REQUIRED") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (UNDERSTUDY_JACK_REQUIRED=1 makes this a failure)")
	}
	wait, err := exec.LookPath("jack_wait")
	if err != nil {
		unavailable("jack_wait is not installed (Debian: apt-get install jackd2)")
	}
	s := &Server{Name: name, exited: make(chan error, 1)}
	if PipeWire() {
		path, err := exec.LookPath("pipewire")
		if err != nil {
			unavailable("pipewire is not installed (Debian: apt-get install pipewire pipewire-jack)")
		}
		if os.Getenv("XDG_RUNTIME_DIR") == "" {
			// The daemon's socket and the clients meet there.
			t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
		}
		conf := filepath.Join(t.TempDir(), "pipewire.conf")
		if err := os.WriteFile(conf, []byte(pipewireConf(name, frames)), 0o644); err != nil {
			t.Fatal(err)
		}
		s.Cmd = exec.Command(path, "-c", conf)
	} else {
		path, err := exec.LookPath("jackd")
		if err != nil {
			unavailable("jackd is not installed (Debian: apt-get install jackd2)")
		}
		s.Cmd = exec.Command(path, "-n", name, "-d", "dummy", "-r", "48000", "-p", fmt.Sprint(frames))
		s.Cmd.Env = append(os.Environ(), "JACK_NO_AUDIO_RESERVATION=1")
	}
	s.Cmd.Stdout, s.Cmd.Stderr = s, s
	if err := s.start(); err != nil {
		unavailable("%v", err)
	}
	t.Cleanup(s.stop)
	// jack_wait polls until a client connects; the server's exit ends
	// the wait sooner.
	w := exec.Command(wait, "-s", name, "-w", "-t", fmt.Sprint(int(Deadline.Seconds())))
	var out bytes.Buffer
	w.Stdout, w.Stderr = &out, &out
	if err := w.Start(); err != nil {
		unavailable("jack_wait: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- w.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			unavailable("jack_wait: %v: %s\n%s", err, out.String(), s.Log())
		}
	case err := <-s.exited:
		s.exited <- err
		w.Process.Kill()
		<-waited
		unavailable("%s exited (%v):\n%s", filepath.Base(s.Cmd.Path), err, s.Log())
	}
	return s
}

// start starts the server with a parent-death signal, so that a test
// binary killed before its cleanup takes its server along. The signal
// follows the thread that started the server, not the process, and the
// runtime ends threads (a goroutine that exits locked to one): the server
// is started and waited for on a thread locked for as long as it runs.
func (s *Server) start() error {
	s.Cmd.SysProcAttr = dieWithParent()
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := s.Cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.exited <- s.Cmd.Wait()
	}()
	return <-started
}

// stop stops the server: SIGTERM (jackd then leaves JACK's registry
// clean), then SIGKILL.
func (s *Server) stop() {
	s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err
	case <-time.After(5 * time.Second):
		s.Cmd.Process.Kill()
		s.exited <- <-s.exited
	}
}

// pipewireConf is a PipeWire daemon with nothing but what JACK clients
// need: the native protocol, client nodes, links, metadata (for a
// period change through jack_set_buffer_size), and the dummy driver,
// at 48 kHz and a fixed quantum of frames. No session manager, no D-Bus,
// no devices. The socket is $XDG_RUNTIME_DIR/name.
func pipewireConf(name string, frames int) string {
	return fmt.Sprintf(`context.properties = {
    core.daemon = true
    core.name = %q
    default.clock.rate = 48000
    default.clock.allowed-rates = [ 48000 ]
    default.clock.quantum = %[2]d
    default.clock.min-quantum = %[2]d
    default.clock.max-quantum = %[3]d
    vm.overrides = { default.clock.min-quantum = %[2]d }
    support.dbus = false
}
context.spa-libs = {
    audio.convert.* = audioconvert/libspa-audioconvert
    support.* = support/libspa-support
}
context.modules = [
    { name = libpipewire-module-rt args = { nice.level = -11 } flags = [ ifexists nofail ] }
    { name = libpipewire-module-protocol-native }
    { name = libpipewire-module-metadata }
    { name = libpipewire-module-spa-node-factory }
    { name = libpipewire-module-client-node }
    { name = libpipewire-module-access }
    { name = libpipewire-module-adapter }
    { name = libpipewire-module-link-factory }
]
context.objects = [
    { factory = spa-node-factory
        args = {
            factory.name = support.node.driver
            node.name = Dummy-Driver
            node.group = pipewire.dummy
            priority.driver = 20000
        }
    }
    { factory = spa-node-factory
        args = {
            factory.name = support.node.driver
            node.name = Freewheel-Driver
            priority.driver = 19000
            node.group = pipewire.freewheel
            node.freewheel = true
        }
    }
]
`, name, frames, max(frames, 8192))
}

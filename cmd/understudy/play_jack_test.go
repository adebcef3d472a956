//go:build jack

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startJackd starts a jackd of the test's own on the dummy driver and
// waits for it (jack_wait); it skips the test when none can start, or
// fails it when UNDERSTUDY_JACK_REQUIRED=1.
func startJackd(t *testing.T, frames int) string {
	t.Helper()
	unavailable := func(msg string) {
		t.Helper()
		if os.Getenv("UNDERSTUDY_JACK_REQUIRED") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (UNDERSTUDY_JACK_REQUIRED=1 makes this a failure)")
	}
	jackd, err := exec.LookPath("jackd")
	if err != nil {
		unavailable("no JACK server can be started: jackd is not installed (Debian: apt-get install jackd2)")
	}
	wait, err := exec.LookPath("jack_wait")
	if err != nil {
		unavailable("jack_wait is not installed (Debian: apt-get install jackd2)")
	}
	// A fixed name: JACK's registry holds a few servers at most, and a
	// name used again takes over its dead server's entry.
	name := "understudy-play-test"
	var log bytes.Buffer
	cmd := exec.Command(jackd, "-n", name, "-d", "dummy", "-r", "48000", "-p", fmt.Sprint(frames))
	cmd.Env = append(os.Environ(), "JACK_NO_AUDIO_RESERVATION=1")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		unavailable("no JACK server can be started: " + err.Error())
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	if out, err := exec.Command(wait, "-s", name, "-w", "-t", fmt.Sprint(int(deadline.Seconds()))).CombinedOutput(); err != nil {
		unavailable(fmt.Sprintf("no JACK server can be started: jack_wait: %v: %s\n%s", err, out, log.String()))
	}
	return name
}

// TestPlay plays the test chain through a real JACK server for a second,
// a node killed on the way.
func TestPlay(t *testing.T) {
	server := startJackd(t, 128)
	path := writeSpec(t, graphSpec)
	status, out, errOut := runCLI(t, "", "play", "--server", server, "--name", "play-test", "--connect", "none",
		"--duration", "1s", "--fault", "dly@100", path)
	require.Equal(t, exitOK, status, "%s\n%s", out, errOut)
	assert.Contains(t, out, "playing "+path+" through JACK: 48000 Hz, 128 frames a block, 3 output ports")
	assert.Contains(t, out, "375 blocks in")
	// In real time a fault waits for a spare: on a loaded machine (the
	// race detector's node processes start slowly) it strikes later.
	assert.Regexp(t, `dly: failover at block \d+ \(died, injected kill`, out)
}

// TestPlayErrors: a block size that is not the server's is reported
// naming the field, before any node process starts.
func TestPlayErrors(t *testing.T) {
	server := startJackd(t, 256)
	path := writeSpec(t, graphSpec)
	status, _, errOut := runCLI(t, "", "play", "--server", server, "--duration", "100ms", path)
	assert.Equal(t, exitInvalid, status)
	assert.Contains(t, errOut, "Engine.Graph.BlockSize = 128")
	assert.Contains(t, errOut, "the JACK server's period is 256 frames")
}

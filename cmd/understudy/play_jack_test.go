//go:build jack

package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/jackserver"
)

// startJackd starts a JACK server of the test's own (internal/jackserver:
// jackd on the dummy driver, or PipeWire with
// UNDERSTUDY_JACK_SERVER=pipewire) under a fixed name: JACK's registry
// holds a few servers at most, and a name used again takes over its dead
// server's entry.
func startJackd(t *testing.T, frames int) string {
	t.Helper()
	return jackserver.Start(t, "understudy-play-test", frames).Name
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
	// race detector's node processes start slowly) it strikes later. The
	// killed node is failed over on its death notice, or on the in-cycle
	// watchdog's verdict when that comes first (a notice late on a
	// virtual machine whose CPUs sat idle).
	assert.Regexp(t, `dly: failover at block \d+ \((died|watchdog: [a-z ]+), injected kill`, out)
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

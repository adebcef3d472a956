package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cmdline is /proc/pid/cmdline's arguments, the empty ones (NULs a title
// was shortened with) left out.
func cmdline(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	require.NoError(t, err)
	var args []string
	for _, a := range strings.Split(string(b), "\x00") {
		if a != "" {
			args = append(args, a)
		}
	}
	return args
}

func comm(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// TestWorkerTitles: in ps, a Go worker says which child it is and whether
// it is a spare, and a spare that takes over says it is not one any more;
// a user executable's argv stays its own.
func TestWorkerTitles(t *testing.T) {
	sock := shortSocket(t)
	p := startTree(t, writeSpec(t, `
children:
  - {name: a, command: sleep, args: [1000]}
  - {name: counter, worker: counter, args: [20ms], standby: 1, state_size: 8}
`), sock)
	_, kids := status(t, sock)
	primary, a := kids["counter"].Pid, kids["a"].Pid
	require.Len(t, kids["counter"].Spares, 1)
	spare := kids["counter"].Spares[0]

	assert.Equal(t, []string{"understudy: counter", "20ms"}, cmdline(t, primary))
	assert.Equal(t, []string{"understudy: counter (spare)", "20ms"}, cmdline(t, spare))
	assert.Equal(t, "counter", comm(t, primary))
	assert.Equal(t, "~counter", comm(t, spare))
	assert.Equal(t, []string{"sleep", "1000"}, cmdline(t, a), "a user executable's argv is its own")

	// The primary dies; the spare takes over and drops " (spare)".
	require.NoError(t, syscall.Kill(primary, syscall.SIGKILL))
	got := p.waitFor("the failover", msg("spare took over", "counter"))
	require.Equal(t, spare, got.int("new_pid"))
	require.Eventually(t, func() bool {
		return len(cmdline(t, spare)) > 0 && cmdline(t, spare)[0] == "understudy: counter" && comm(t, spare) == "counter"
	}, deadline, 10*time.Millisecond, "the promoted spare's title: %q, comm %q", cmdline(t, spare), comm(t, spare))
	assert.Equal(t, []string{"understudy: counter", "20ms"}, cmdline(t, spare))
}

//go:build linux

package procbridge

import (
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProbeNonstop: the probe tells a loop that spins, which never sleeps,
// from a process that wakes and sleeps, whatever CPU each had: the hang
// judge counts the first's CPU as spinning and not the second's.
func TestProbeNonstop(t *testing.T) {
	const enough = int64(2 * time.Millisecond)
	for _, c := range []struct {
		name, script string
		spins        bool
	}{
		{"spinner", "while :; do :; done", true},
		{"sleeper", "while :; do sleep 0.001; done", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", c.script)
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			pr := openProbe(cmd.Process.Pid)
			require.NotNil(t, pr)
			t.Cleanup(pr.close)
			first := pr.sample()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			timeout := time.After(30 * time.Second)
			for {
				select {
				case <-tick.C:
				case <-timeout:
					t.Fatalf("the process had no %v of CPU in 30 s", time.Duration(enough))
				}
				s := pr.sample()
				require.True(t, s.nonstopOK, "the status of each thread read")
				if c.spins && s.nonstop >= enough {
					return // its CPU, all of it nonstop
				}
				if !c.spins && s.run-first.run >= 5*enough {
					// Five times what a spinner is caught at, and the
					// process slept between.
					assert.Less(t, s.nonstop, enough, "the CPU of a process that sleeps counted as nonstop")
					return
				}
			}
		})
	}
}

//go:build linux

package audio

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

// TestEngineBadInput: every bad input is a clear error from Start, before
// any cycle runs (and, but for the WAV file's creation, before any process
// starts).
func TestEngineBadInput(t *testing.T) {
	good := func() Config {
		g, sink := chain(48000, 128)
		return Config{Graph: g, Sink: sink}
	}
	for _, tc := range []struct {
		name   string
		cfg    func(c *Config)
		target error
		says   string
	}{
		{"cycle", func(c *Config) {
			c.Graph.Edges = append(c.Graph.Edges, Edge{From: Port{"amp", 0}, To: Port{"dly", 0}})
		}, ErrInvalidGraph, "cycle: dly -> amp -> dly"},
		{"unknown kind", func(c *Config) { c.Graph.Nodes[2].Kind = "reverb" }, ErrInvalidGraph, `Nodes[2].Kind = "reverb"`},
		{"mismatched rates", func(c *Config) { c.Rate = 44100 }, ErrInvalidConfig, "mismatched rates"},
		{"block size not a power of two", func(c *Config) { c.Graph.BlockSize = 100 }, ErrInvalidGraph, "BlockSize = 100"},
		{"block size below 16", func(c *Config) { c.Graph.BlockSize = 8 }, ErrInvalidGraph, "BlockSize = 8"},
		{"block size above 4096", func(c *Config) { c.Graph.BlockSize = 8192 }, ErrInvalidGraph, "BlockSize = 8192"},
		{"period too short", func(c *Config) {
			c.RealTime, c.Graph.BlockSize, c.Slack = true, 16, NoSlack
		}, ErrInvalidConfig, "period too short for this driver"},
		{"watchdog longer than the slack allows", func(c *Config) {
			c.RealTime, c.Watchdog = true, 10*time.Millisecond
		}, ErrInvalidConfig, "10ms watchdog"},
		{"watchdog too short", func(c *Config) { c.Watchdog = 50 * time.Microsecond }, ErrInvalidConfig, "Watchdog = 50µs: below the shortest watchdog this driver takes, 200µs"},
		{"unwritable WAV", func(c *Config) {
			c.WAV = filepath.Join(t.TempDir(), "no", "such", "dir", "out.wav")
		}, ErrInvalidConfig, "cannot be written"},
		{"sink port missing", func(c *Config) { c.Sink[1].Port = 1 }, ErrInvalidGraph, `Sink[1].Port = 1`},
		{"no sink", func(c *Config) { c.Sink = nil }, ErrInvalidGraph, "Sink"},
		{"fault on no node", func(c *Config) { c.Faults = []Fault{{Node: "x", Cycle: 1, Kind: "kill"}} }, ErrInvalidConfig, `Faults[0].Node = "x"`},
		{"fault at block 0", func(c *Config) { c.Faults = []Fault{{Node: "src", Kind: "kill"}} }, ErrInvalidConfig, "Faults[0].Cycle"},
		{"bad slack", func(c *Config) { c.Slack = -5 }, ErrInvalidConfig, "Slack = -5"},
		{"a process left and come back to", func(c *Config) {
			c.Graph.Nodes[0].Process, c.Graph.Nodes[2].Process = "light", "light"
		}, ErrInvalidGraph, `Nodes[0].Process = "light": processes feed each other in a cycle: process "light" -> node "dly" -> process "light" (edges src -> dly, dly -> amp)`},
		{"two faults in one process and block", func(c *Config) {
			c.Graph.Nodes[1].Process, c.Graph.Nodes[2].Process = "fx", "fx"
			c.Faults = []Fault{{Node: "dly", Cycle: 5, Kind: "kill"}, {Node: "amp", Cycle: 5, Kind: "hang"}}
		}, ErrInvalidConfig, `Faults[1].Cycle = 5: Faults[0] strikes process "fx" (nodes dly, amp) at the same block`},
		{"a bad process name", func(c *Config) { c.Graph.Nodes[1].Process = "no/slash" }, ErrInvalidGraph, `Nodes[1].Process = "no/slash"`},
		{"negative intensity", func(c *Config) { c.Intensity.MaxRestarts = -1 }, ErrInvalidConfig, "Intensity.MaxRestarts = -1: must be at least 1"},
		{"negative intensity period", func(c *Config) { c.Intensity.Period = -time.Second }, ErrInvalidConfig, "Intensity.Period = -1s: must be positive"},
		{"a bad supervisor name", func(c *Config) { c.Name = "a/b" }, ErrInvalidConfig, `Name = "a/b"`},
		{"a process named like a node alone", func(c *Config) {
			c.Graph.Nodes[1].Process, c.Graph.Nodes[2].Process = "src", "src"
		}, ErrInvalidConfig, `Graph.Nodes[1].Process = "src": the engine's supervision tree names each node process's child after it, and node "src" runs alone under that name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good()
			tc.cfg(&cfg)
			start := time.Now()
			e, err := Start(ctxT(t), cfg)
			if e != nil {
				e.Close(ctxT(t))
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, tc.target), "%v is not %v", err, tc.target)
			assert.Contains(t, err.Error(), tc.says)
			assert.Less(t, time.Since(start), time.Second, "bad input is found before processes start")
			t.Log(err)
			if tc.name != "unwritable WAV" {
				verr := cfg.Validate()
				assert.Equal(t, err.Error(), verr.Error(), "Validate finds what Start finds")
			}
		})
	}
}

// TestConfigValidate: Validate reports every problem at once, each naming
// its field from the Config, and looks at nothing outside it.
func TestConfigValidate(t *testing.T) {
	g, sink := chain(48000, 128)
	cfg := Config{Graph: g, Sink: sink, WAV: filepath.Join(t.TempDir(), "no", "such", "dir", "out.wav")}
	require.NoError(t, cfg.Validate(), "the WAV is Start's to create")

	cfg.Slack, cfg.Spares, cfg.Sink = 65, 15, []Port{{"amp", 1}}
	err := cfg.Validate()
	var fields []string
	for _, e := range unjoin(err) {
		var se *procbridge.SpecError
		require.ErrorAs(t, e, &se)
		fields = append(fields, se.Field)
	}
	assert.Equal(t, []string{"Sink[0].Port", "Slack", "Spares"}, fields)
	assert.ErrorIs(t, err, ErrInvalidConfig)
	assert.ErrorIs(t, err, ErrInvalidGraph)

	cfg = Config{Graph: g, Sink: sink}
	cfg.Graph.Nodes = append(slices.Clone(g.Nodes), Node{Name: "osc", Kind: "sinus"})
	cfg.Graph.BlockSize = 100
	err = cfg.Validate()
	require.Error(t, err)
	assert.Equal(t, `audio: invalid graph: Graph.BlockSize = 100: must be a power of two from 16 to 4096
audio: invalid graph: Graph.Nodes[3].Kind = "sinus": node "osc" (sinus): not registered (known: `+strings.Join(defaultKinds.names(), ", ")+")",
		err.Error(), "the graph's problems, under Graph.; the rest wait for a valid graph")
}

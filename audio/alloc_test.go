//go:build linux

package audio

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

// everyKind is a graph with a node of every built-in kind (and of a custom
// one), a fan-in summed by the reader as well as by a mixer, and a
// multi-output source read by several nodes.
func everyKind() (Graph, []Port) {
	g := Graph{Rate: 48000, BlockSize: 128,
		Nodes: []Node{
			{Name: "ts", Kind: "testsignal"},
			{Name: "osc", Kind: "sine", Params: Params{"freq": 440, "amp": 0.5}},
			{Name: "mix", Kind: "mixer", Params: Params{"inputs": 2, "gain1": 0.5}},
			{Name: "dly", Kind: "delay", Params: Params{"samples": 1000}},
			{Name: "lp", Kind: "lowpass", Params: Params{"freq": 2000}},
			{Name: "hp", Kind: "highpass", Params: Params{"freq": 100}},
			{Name: "bp", Kind: "bandpass", Params: Params{"freq": 1000, "q": 2}},
			{Name: "pk", Kind: "peak", Params: Params{"freq": 3000, "gain_db": 6}},
			{Name: "sum", Kind: "gain", Params: Params{"gain": 0.25}},
			{Name: "inv", Kind: "invert"},
		},
		Edges: []Edge{
			{From: Port{"ts", 1}, To: Port{"mix", 0}},
			{From: Port{"osc", 0}, To: Port{"mix", 1}},
			{From: Port{"mix", 0}, To: Port{"dly", 0}},
			{From: Port{"dly", 0}, To: Port{"lp", 0}},
			{From: Port{"mix", 0}, To: Port{"hp", 0}},
			{From: Port{"ts", 2}, To: Port{"bp", 0}},
			{From: Port{"lp", 0}, To: Port{"pk", 0}},
			// A fan-in, summed by the reading node process.
			{From: Port{"pk", 0}, To: Port{"sum", 0}},
			{From: Port{"hp", 0}, To: Port{"sum", 0}},
			{From: Port{"bp", 0}, To: Port{"sum", 0}},
			{From: Port{"sum", 0}, To: Port{"inv", 0}},
		},
	}
	return g, []Port{{"ts", 0}, {"inv", 0}}
}

// everyKindShared is everyKind with two processes of two nodes each.
func everyKindShared() (Graph, []Port) {
	g, sink := everyKind()
	for i, n := range g.Nodes {
		switch n.Name {
		case "lp", "pk":
			g.Nodes[i].Process = "eq"
		case "hp", "bp":
			g.Nodes[i].Process = "hb"
		}
	}
	return g, sink
}

// TestNodeLoopAllocatesNothing: the processing loop of every node process
// (each built-in kind, a custom one, fan-in) makes no heap allocation over
// 2,000 blocks after a warm-up, in a fault-free run and in the spares
// promoted when every primary is killed (each at another point of its
// cycle). The node processes count their own allocations (allocProbe).
func TestNodeLoopAllocatesNothing(t *testing.T) {
	const warmUp, window = 100, 2000
	for _, shared := range []bool{false, true} {
		for _, faulty := range []bool{false, true} {
			name := "fault-free"
			if faulty {
				name = "promoted-spares"
			}
			g, sink := everyKind()
			if shared {
				g, sink = everyKindShared()
				name += "/shared"
			}
			t.Run(name, func(t *testing.T) { probeAllocs(t, g, sink, faulty, warmUp, window) })
		}
	}
}

func probeAllocs(t *testing.T, g Graph, sink []Port, faulty bool, warmUp, window int) {
	{
		{
			cfg := Config{Graph: g, Sink: sink, Watchdog: time.Second}
			if os.Getenv("AUDIO_TEST_STDERR") != "" {
				cfg.Stderr = procbridge.Output{}
			}
			// The last reading, at block warmUp+window, comes well before
			// the end, and so before Close.
			blocks := uint64(warmUp + window + probeEvery/2)
			if faulty {
				for k, n := range g.Nodes {
					cfg.Faults = append(cfg.Faults, Fault{Node: n.Name, Cycle: uint64(10 + 3*k), Kind: "kill", Point: faultPoints[k%len(faultPoints)]})
				}
				blocks += 10 + 3*uint64(len(g.Nodes))
			}
			e, err := startEngine(ctxT(t), cfg, func(e *Engine) { e.probeWarmUp = uint64(warmUp) })
			require.NoError(t, err)
			defer e.Close(ctxT(t))
			rep, err := e.Run(ctxT(t), blocks)
			require.NoError(t, err)
			if faulty {
				require.Equal(t, len(g.Nodes), rep.FaultsStruck, "%v", rep)
				for _, n := range rep.Nodes {
					require.GreaterOrEqual(t, n.Failovers, 1, "node %s: %v", n.Name, rep)
				}
			}
			for h := range e.t.members {
				_, lane := e.hosts[h].Load().seg.Control()
				r := e.b.Host(h).Lane(lane)
				from, to, allocs := atomic.LoadUint64(r.ProbeFrom()), atomic.LoadUint64(r.ProbeTo()), atomic.LoadUint64(r.ProbeAllocs())
				kinds := make([]string, 0, len(e.t.members[h]))
				for _, i := range e.t.members[h] {
					kinds = append(kinds, e.t.kinds[i])
				}
				what := fmt.Sprintf("%s %v, lane %d: blocks %d..%d", e.t.hostLabel(h), kinds, lane, from, to)
				require.NotZero(t, from, "%s: the probe never started", what)
				assert.GreaterOrEqual(t, to+1-from, uint64(window), "%s: too few blocks probed", what)
				assert.Zero(t, allocs, "%s: the loop allocated", what)
				t.Logf("%s: %d allocations", what, allocs)
			}
		}
	}
}

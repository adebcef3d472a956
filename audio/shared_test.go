//go:build linux

package audio

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

// lightGraph is the test source through a delay and a gain, and through a
// lowpass, mixed; dly, amp and lp share the process "light" when shared.
func lightGraph(shared bool) (Graph, []Port) {
	g := Graph{
		Rate: 48000, BlockSize: 64,
		Nodes: []Node{
			{Name: "src", Kind: "testsignal"},
			{Name: "dly", Kind: "delay", Params: Params{"samples": 300}},
			{Name: "amp", Kind: "gain", Params: Params{"gain": 0.5}},
			{Name: "lp", Kind: "lowpass", Params: Params{"freq": 1000}},
			{Name: "mix", Kind: "mixer", Params: Params{"inputs": 2}},
		},
		Edges: []Edge{
			{From: Port{"src", 1}, To: Port{"dly", 0}},
			{From: Port{"dly", 0}, To: Port{"amp", 0}},
			{From: Port{"src", 2}, To: Port{"lp", 0}},
			{From: Port{"amp", 0}, To: Port{"mix", 0}},
			{From: Port{"lp", 0}, To: Port{"mix", 1}},
		},
	}
	if shared {
		for _, i := range []int{1, 2, 3} {
			g.Nodes[i].Process = "light"
		}
	}
	return g, []Port{{"src", 0}, {"amp", 0}, {"lp", 0}, {"mix", 0}}
}

// TestEngineSharedProcess: nodes sharing a process render bit-identically
// to the same graph with one process per node (and to Render), run in one
// process group, and are accounted per node.
func TestEngineSharedProcess(t *testing.T) {
	const blocks = 300
	g, sink := lightGraph(false)
	want, err := Render(&g, sink, blocks)
	require.NoError(t, err)
	_, separate := render(t, Config{Graph: g, Sink: sink, Watchdog: 2 * time.Second}, blocks)
	cmp, err := Compare(want, separate, len(sink), CompareOptions{})
	require.NoError(t, err)
	require.True(t, cmp.GlitchFree, "one process per node: %v", cmp)

	g, sink = lightGraph(true)
	rep, shared := render(t, Config{Graph: g, Sink: sink, Watchdog: 2 * time.Second}, blocks)
	assert.Equal(t, separate, shared, "shared and separate processes give the same bits")
	cmp, err = Compare(want, shared, len(sink), CompareOptions{})
	require.NoError(t, err)
	assert.True(t, cmp.GlitchFree, "%v", cmp)
	require.Len(t, rep.Nodes, 5, "the report is per node")
	for _, n := range rep.Nodes {
		assert.Equal(t, uint64(blocks), n.Cycles, n.Name)
	}

	e, err := Start(ctxT(t), Config{Graph: g, Sink: sink})
	require.NoError(t, err)
	defer e.Close(ctxT(t))
	assert.Len(t, e.hosts, 3, "src, light, mix")
	pids := pidsOf(e)
	require.Len(t, pids, 5)
	assert.Equal(t, pids["dly"], pids["amp"])
	assert.Equal(t, pids["dly"], pids["lp"])
	assert.NotEqual(t, pids["dly"], pids["src"])
	assert.NotEqual(t, pids["dly"], pids["mix"])
}

// TestEngineSharedProcessFaults strikes the shared process through each of
// its nodes at each point of the cycle (SIGKILL), and with a hang: the
// render is bit-identical, one failover resumes all its nodes from the same
// committed block, and each node of it counts the failover.
func TestEngineSharedProcessFaults(t *testing.T) {
	const blocks = 150
	g, sink := lightGraph(true)
	want, err := Render(&g, sink, blocks)
	require.NoError(t, err)
	type tc struct {
		node  string
		kind  string
		point string
	}
	var cases []tc
	for _, node := range []string{"dly", "amp", "lp"} {
		for _, p := range faultPoints {
			cases = append(cases, tc{node, "kill", p})
		}
	}
	cases = append(cases, tc{"amp", "hang", "before-compute"}, tc{"lp", "overrun", "after-output"}, tc{"dly", "segv", "after-commit"})
	for _, c := range cases {
		t.Run(c.kind+"/"+c.node+"/"+c.point, func(t *testing.T) {
			f := Fault{Node: c.node, Cycle: 60, Kind: c.kind, Point: c.point}
			if c.kind == "overrun" {
				f.Spin = 200 * time.Millisecond
			}
			rep, got := render(t, Config{Graph: g, Sink: sink, Watchdog: 20 * time.Millisecond, Faults: []Fault{f}}, blocks)
			cmp, err := Compare(want, got, len(sink), CompareOptions{})
			require.NoError(t, err)
			assert.True(t, cmp.GlitchFree, "%v", cmp)
			fo := struckFailover(t, rep)
			assert.Equal(t, c.node, fo.Node)
			assert.Equal(t, "light", fo.Process)
			assert.Equal(t, c.kind, fo.Fault)
			if c.point == "after-publish" {
				// Killed once it had published its node of block 60: if
				// the process's other nodes were published before it,
				// the cycle can end before the spare publishes them
				// again, and the driver sees the failover at block 61.
				assert.Contains(t, []uint64{60, 61}, fo.Cycle)
			} else {
				assert.Equal(t, uint64(60), fo.Cycle)
			}
			wantRecovery := recoveredCompute
			if faultPointCode(c.point) >= int(afterCommit) {
				wantRecovery = recoveredReuse
			}
			if fo.Cycle == 61 {
				// The failover is block 61's: the spare may have
				// computed it, or found its nodes' blocks committed.
				assert.Contains(t, []string{recoveredCompute, recoveredReuse}, fo.Recovery)
			} else {
				assert.Equal(t, wantRecovery, fo.Recovery)
			}
			// Each node of the struck process counts its failover; a
			// loaded machine's watchdog verdicts at blocks nothing struck
			// (struckFailover allows them) count at the nodes of the
			// process they failed over, and nowhere else.
			want := map[string]int{"dly": fo.Promotions, "amp": fo.Promotions, "lp": fo.Promotions}
			for _, f := range rep.Failovers {
				if f.Fault != "" {
					continue
				}
				for _, n := range g.Nodes {
					if f.Process != "" && n.Process == f.Process || f.Process == "" && n.Name == f.Node {
						want[n.Name] += f.Promotions
					}
				}
			}
			assert.Equal(t, 1, fo.Promotions, "one promotion for the fault")
			for _, n := range rep.Nodes {
				assert.Equal(t, want[n.Name], n.Failovers, "node %s", n.Name)
			}
			t.Log(fo)
		})
	}
}

// TestGraphSharedProcessErrors: a process the graph leaves and comes back
// to, directly or through another process, and malformed process names.
func TestGraphSharedProcessErrors(t *testing.T) {
	gains := func(procs ...string) []Node {
		nodes := make([]Node, len(procs))
		for i, p := range procs {
			nodes[i] = Node{Name: string(rune('a' + i)), Kind: "gain", Process: p}
		}
		return nodes
	}
	chain := []Edge{edge("a", 0, "b", 0), edge("b", 0, "c", 0), edge("c", 0, "d", 0)}
	for _, tc := range []struct {
		name  string
		nodes []Node
		edges []Edge
		field string
		msg   string
	}{
		{"a node between", gains("p", "", "p", ""), chain, "Nodes[0].Process",
			`audio: invalid graph: Nodes[0].Process = "p": processes feed each other in a cycle: process "p" -> node "b" -> process "p" (edges a -> b, b -> c)`},
		{"two processes", gains("p", "q", "p", "q"), chain, "Nodes[0].Process",
			`audio: invalid graph: Nodes[0].Process = "p": processes feed each other in a cycle: process "p" -> process "q" -> process "p" (edges a -> b, b -> c)`},
		{"a bad name", gains("p q", "", "", ""), chain, "Nodes[0].Process",
			`audio: invalid graph: Nodes[0].Process = "p q": byte ' ' not allowed: use ASCII letters, digits, '_', '-', '.'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := Graph{Rate: 48000, BlockSize: 64, Nodes: tc.nodes, Edges: tc.edges}
			err := g.Validate()
			require.ErrorIs(t, err, ErrInvalidGraph)
			var fe *procbridge.SpecError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
			assert.ErrorContains(t, err, tc.msg)
		})
	}
	// Sharing that keeps the processes a DAG is fine: a chain's ends apart,
	// its middle together, parallel branches together.
	for _, procs := range [][]string{{"p", "p", "", ""}, {"", "p", "p", ""}, {"p", "p", "p", "p"}, {"x", "", "", "x"}} {
		g := Graph{Rate: 48000, BlockSize: 64, Nodes: gains(procs...), Edges: chain}
		if procs[0] == "x" {
			g.Edges = []Edge{edge("a", 0, "b", 0), edge("c", 0, "d", 0)}
		}
		assert.NoError(t, g.Validate(), "%q", procs)
	}
}

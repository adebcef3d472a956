package audio

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

func edge(from string, fromPort int, to string, toPort int) Edge {
	return Edge{From: Port{from, fromPort}, To: Port{to, toPort}}
}

// studio is a valid graph: the test signal and a tone mixed, filtered and
// delayed.
func studio() Graph {
	return Graph{
		Rate:      48000,
		BlockSize: 128,
		Nodes: []Node{
			{Name: "sig", Kind: "testsignal"},
			{Name: "tone", Kind: "sine", Params: Params{"freq": 440, "amp": 0.25}},
			{Name: "mix", Kind: "mixer", Params: Params{"inputs": 2, "gain1": 0.5}},
			{Name: "lp", Kind: "lowpass", Params: Params{"freq": 8000}},
			{Name: "echo", Kind: "delay", Params: Params{"samples": 4800}},
			{Name: "out", Kind: "gain"},
		},
		Edges: []Edge{
			edge("sig", 1, "mix", 0),
			edge("tone", 0, "mix", 1),
			edge("mix", 0, "lp", 0),
			edge("lp", 0, "echo", 0),
			edge("lp", 0, "out", 0),   // fan-out from lp
			edge("echo", 0, "out", 0), // fan-in at out
		},
	}
}

func TestGraphValid(t *testing.T) {
	g := studio()
	require.NoError(t, g.Validate())
	s, err := g.schedule()
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"sig", "tone"}, {"mix"}, {"lp"}, {"echo"}, {"out"}}, s.Levels)
	assert.Equal(t, []string{"sig", "tone", "mix", "lp", "echo", "out"}, s.Order)
}

// TestGraphOutputs: the ports no edge reads, node by node; none for an
// invalid graph.
func TestGraphOutputs(t *testing.T) {
	g := studio()
	assert.Equal(t, []Port{{"sig", 0}, {"sig", 2}, {"out", 0}}, g.Outputs(),
		"sig:1, tone, mix, lp and echo feed edges")
	g.Nodes[1].Kind = "sinus"
	assert.Nil(t, g.Outputs())
}

// TestKinds: the kinds a node may name, this package's own among them.
func TestKinds(t *testing.T) {
	kinds := defaultKinds.names()
	assert.True(t, slices.IsSorted(kinds))
	for _, k := range []string{"bandpass", "delay", "gain", "highpass", "lowpass", "mixer", "peak", "sine", "testsignal"} {
		assert.Contains(t, kinds, k)
	}
}

func TestGraphValidateErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(g *Graph)
		err    error
		field  string
		msg    string
	}{
		{"zero rate", func(g *Graph) { g.Rate = 0 }, ErrInvalidGraph, "Rate",
			"audio: invalid graph: Rate = 0: must be at least 1"},
		{"block size not a power of two", func(g *Graph) { g.BlockSize = 100 }, ErrInvalidGraph, "BlockSize",
			"audio: invalid graph: BlockSize = 100: must be a power of two from 16 to 4096"},
		{"block size too small", func(g *Graph) { g.BlockSize = 8 }, ErrInvalidGraph, "BlockSize", ""},
		{"block size too large", func(g *Graph) { g.BlockSize = 8192 }, ErrInvalidGraph, "BlockSize", ""},
		{"negative block size", func(g *Graph) { g.BlockSize = -128 }, ErrInvalidGraph, "BlockSize", ""},
		{"empty name", func(g *Graph) { g.Nodes[1].Name = ""; g.Edges = g.Edges[2:] }, ErrInvalidGraph,
			"Nodes[1].Name", `audio: invalid graph: Nodes[1].Name = "": must be 1 to 64 bytes`},
		{"bad byte in name", func(g *Graph) { g.Nodes[5].Name = "out put"; g.Edges = g.Edges[:4] }, ErrInvalidGraph,
			"Nodes[5].Name", `audio: invalid graph: Nodes[5].Name = "out put": byte ' ' not allowed: use ASCII letters, digits, '_', '-', '.'`},
		{"duplicate name", func(g *Graph) { g.Nodes[5].Name = "lp"; g.Edges = g.Edges[:4] }, ErrInvalidGraph,
			"Nodes[5].Name", `audio: invalid graph: Nodes[5].Name = "lp": repeats Nodes[3].Name`},
		{"unknown kind", func(g *Graph) { g.Nodes[3].Kind = "lowpas" }, ErrInvalidGraph, "Nodes[3].Kind", ""},
		{"missing param", func(g *Graph) { g.Nodes[4].Params = nil }, ErrInvalidGraph, `Nodes[4].Params["samples"]`,
			`audio: invalid graph: Nodes[4].Params["samples"]: node "echo" (delay): required`},
		{"param above Nyquist", func(g *Graph) { g.Nodes[1].Params["freq"] = 30000 }, ErrInvalidGraph,
			`Nodes[1].Params["freq"]`,
			`audio: invalid graph: Nodes[1].Params["freq"] = 30000: node "tone" (sine): must be above 0 and below rate/2 = 24000`},
		{"rate a kind cannot run at", func(g *Graph) { g.Rate = 1000; g.Nodes[1].Params["freq"] = 100 }, ErrInvalidGraph,
			"Rate", ""},
		{"edge from a missing node", func(g *Graph) { g.Edges[0].From.Node = "sgi" }, ErrInvalidGraph,
			"Edges[0].From.Node", `audio: invalid graph: Edges[0].From.Node = "sgi": no such node`},
		{"edge to a missing node", func(g *Graph) { g.Edges[5].To.Node = "outt" }, ErrInvalidGraph,
			"Edges[5].To.Node", ""},
		{"output port out of range", func(g *Graph) { g.Edges[0].From.Port = 3 }, ErrInvalidGraph,
			"Edges[0].From.Port", `audio: invalid graph: Edges[0].From.Port = 3: node "sig" (testsignal) has outputs 0..2`},
		{"negative port", func(g *Graph) { g.Edges[2].To.Port = -1 }, ErrInvalidGraph, "Edges[2].To.Port", ""},
		{"input port out of range", func(g *Graph) { g.Edges[1].To.Port = 2 }, ErrInvalidGraph, "Edges[1].To.Port",
			`audio: invalid graph: Edges[1].To.Port = 2: node "mix" (mixer) has inputs 0..1`},
		{"into a source", func(g *Graph) { g.Edges[5].To = Port{"tone", 0} }, ErrInvalidGraph, "Edges[5].To.Port",
			`audio: invalid graph: Edges[5].To.Port = 0: node "tone" (sine) has no inputs`},
		{"repeated edge", func(g *Graph) { g.Edges = append(g.Edges, g.Edges[2]) }, ErrInvalidGraph, "Edges[6]",
			`audio: invalid graph: Edges[6] = "mix:0 -> lp:0": repeats Edges[2]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := studio()
			tc.change(&g)
			err := g.Validate()
			require.ErrorIs(t, err, tc.err)
			var fe *procbridge.SpecError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
			if tc.msg != "" {
				assert.EqualError(t, err, tc.msg)
			}
			_, err = g.schedule()
			assert.ErrorIs(t, err, tc.err, "Schedule validates too")
		})
	}
}

func TestGraphReportsEveryProblem(t *testing.T) {
	g := studio()
	g.kinds = builtin() // not the default registry, which holds this binary's test kinds too
	g.BlockSize = 0
	g.Nodes[2].Kind = "mixxer"
	g.Nodes[3].Params = Params{"freq": 8000, "Q": 1}
	g.Edges = append(g.Edges, edge("nowhere", 0, "out", 0), edge("out", 0, "mix", 1))
	err := g.Validate()
	require.Error(t, err)
	assert.EqualError(t, err, `audio: invalid graph: BlockSize = 0: must be a power of two from 16 to 4096
audio: invalid graph: Nodes[2].Kind = "mixxer": node "mix" (mixxer): not registered (known: bandpass, delay, gain, highpass, lowpass, mixer, peak, sine, testsignal)
audio: invalid graph: Nodes[3].Params["Q"] = 1: node "lp" (lowpass): unknown parameter (known: freq, q)
audio: invalid graph: Edges[6].From.Node = "nowhere": no such node
audio: invalid graph: Edges: a cycle: mix -> lp -> echo -> out -> mix`)
	for _, target := range []error{ErrInvalidGraph, ErrInvalidGraph, ErrInvalidGraph, ErrInvalidGraph} {
		assert.ErrorIs(t, err, target)
	}
}

func TestGraphCustomKinds(t *testing.T) {
	var kinds registry
	require.NoError(t, kinds.register(Kind{Name: "fx", New: func(int, Params) (Processor, error) { return gain{g: 1}, nil }}))
	g := Graph{Rate: 48000, BlockSize: 64, kinds: &kinds, Nodes: []Node{{Name: "a", Kind: "fx"}}}
	require.NoError(t, g.Validate())

	g.Nodes = append(g.Nodes, Node{Name: "b", Kind: "gain"})
	require.ErrorIs(t, g.Validate(), ErrInvalidGraph, "the built-in kinds are not implied")

	errBroken := errors.New("broken")
	require.NoError(t, kinds.register(Kind{Name: "broken", New: func(int, Params) (Processor, error) { return nil, errBroken }}))
	g.Nodes[1].Kind = "broken"
	err := g.Validate()
	require.ErrorIs(t, err, errBroken)
	assert.EqualError(t, err, `audio: invalid graph: Nodes[1] "b" (broken): broken`)
}

func TestGraphCycles(t *testing.T) {
	gains := func(names ...string) []Node {
		nodes := make([]Node, len(names))
		for i, n := range names {
			nodes[i] = Node{Name: n, Kind: "gain"}
		}
		return nodes
	}
	for _, tc := range []struct {
		name  string
		nodes []Node
		edges []Edge
		path  []string
	}{
		{"self loop", gains("a"), []Edge{edge("a", 0, "a", 0)}, []string{"a", "a"}},
		{"two nodes", gains("a", "b"), []Edge{edge("a", 0, "b", 0), edge("b", 0, "a", 0)}, []string{"a", "b", "a"}},
		{
			"behind a fan-out",
			gains("src", "x", "y", "z", "w"),
			[]Edge{
				edge("src", 0, "x", 0), edge("src", 0, "y", 0),
				edge("y", 0, "z", 0), edge("z", 0, "w", 0), edge("w", 0, "y", 0),
			},
			[]string{"y", "z", "w", "y"},
		},
		{
			"entered mid-cycle",
			gains("a", "b", "c"),
			[]Edge{edge("a", 0, "b", 0), edge("b", 0, "c", 0), edge("c", 0, "b", 0)},
			[]string{"b", "c", "b"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := Graph{Rate: 48000, BlockSize: 256, Nodes: tc.nodes, Edges: tc.edges}
			err := g.Validate()
			require.ErrorIs(t, err, ErrInvalidGraph)
			var fe *procbridge.SpecError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "Edges", fe.Field)
			assert.Equal(t, "a cycle: "+strings.Join(tc.path, " -> "), fe.Reason)
		})
	}
}

func TestGraphSchedule(t *testing.T) {
	gains := func(names ...string) []Node {
		nodes := make([]Node, len(names))
		for i, n := range names {
			nodes[i] = Node{Name: n, Kind: "gain"}
		}
		return nodes
	}
	for _, tc := range []struct {
		name   string
		nodes  []Node
		edges  []Edge
		levels [][]string
	}{
		{"empty", nil, nil, nil},
		{"lone nodes keep their order", gains("c", "a", "b"), nil, [][]string{{"c", "a", "b"}}},
		{"chain declared backwards", gains("c", "b", "a"),
			[]Edge{edge("a", 0, "b", 0), edge("b", 0, "c", 0)},
			[][]string{{"a"}, {"b"}, {"c"}}},
		{"diamond", gains("top", "left", "right", "bottom"),
			[]Edge{edge("top", 0, "left", 0), edge("top", 0, "right", 0),
				edge("left", 0, "bottom", 0), edge("right", 0, "bottom", 0)},
			[][]string{{"top"}, {"left", "right"}, {"bottom"}}},
		{"level is the longest chain", gains("a", "b", "c", "d"),
			// a -> d directly and through b -> c: d waits for c.
			[]Edge{edge("a", 0, "d", 0), edge("a", 0, "b", 0), edge("b", 0, "c", 0), edge("c", 0, "d", 0)},
			[][]string{{"a"}, {"b"}, {"c"}, {"d"}}},
		{"two independent chains", gains("x1", "y1", "x2", "y2"),
			[]Edge{edge("x1", 0, "x2", 0), edge("y1", 0, "y2", 0)},
			[][]string{{"x1", "y1"}, {"x2", "y2"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := Graph{Rate: 48000, BlockSize: 16, Nodes: tc.nodes, Edges: tc.edges}
			s, err := g.schedule()
			require.NoError(t, err)
			assert.Equal(t, tc.levels, s.Levels)
			order := []string{}
			for _, l := range tc.levels {
				order = append(order, l...)
			}
			assert.Equal(t, order, s.Order, "the levels in turn")
			assertTopological(t, g, s.Order)
		})
	}
}

// assertTopological checks that every edge runs forward in order.
func assertTopological(t *testing.T, g Graph, order []string) {
	t.Helper()
	pos := make(map[string]int, len(order))
	for i, n := range order {
		pos[n] = i
	}
	for _, e := range g.Edges {
		assert.Less(t, pos[e.From.Node], pos[e.To.Node], "edge %v", e)
	}
}

func TestPortAndEdgeText(t *testing.T) {
	assert.Equal(t, "sig:2 -> out:0", edge("sig", 2, "out", 0).text())
}

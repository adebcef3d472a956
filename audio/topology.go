package audio

import (
	"encoding/json"
	"fmt"
	"slices"
)

// topology is a validated graph resolved to indexes: what the driver and
// every node process compute alike from the same Graph, so that they agree
// on the bus layout and on who feeds whom without a table in shared memory.
type topology struct {
	rate, blockSize int
	names           []string
	kinds           []string
	procs           []Processor
	// inputs[i][k] lists the output ports summed into input k of node i,
	// in edge order (fan-in); an empty list reads silence.
	inputs [][][]src
	preds  [][]int // distinct nodes feeding node i, ascending
	succ   [][]int // distinct nodes node i feeds, ascending
	order  []int   // a topological order
	depth  int     // nodes on the longest chain
	level  []int   // per node, its level in the schedule (0 for sources)
	// sources feed on nothing; terminals feed nothing.
	sources, terminals []int
	terminal           []bool
}

// src is one output port: node index and port.
type src struct{ node, port int }

// newTopology validates g and resolves it. Only the Builtin kinds are
// allowed when processes run the nodes: a node process rebuilds its kernel
// from the kind's name, in a registry it can reach without the caller's
// pointers.
func newTopology(g *Graph) (*topology, error) {
	s, err := g.Schedule()
	if err != nil {
		return nil, err
	}
	kinds := g.Kinds
	if kinds == nil {
		kinds = builtin
	}
	t := &topology{rate: g.Rate, blockSize: g.BlockSize}
	index := make(map[string]int, len(g.Nodes))
	for i, n := range g.Nodes {
		p, err := kinds.New(n.Kind, g.Rate, n.Params)
		if err != nil {
			return nil, nodeErr(i, n, err) // Schedule checked already; unreachable
		}
		index[n.Name] = i
		t.names = append(t.names, n.Name)
		t.kinds = append(t.kinds, n.Kind)
		t.procs = append(t.procs, p)
		t.inputs = append(t.inputs, make([][]src, p.Inputs()))
	}
	t.preds = make([][]int, len(g.Nodes))
	t.succ = make([][]int, len(g.Nodes))
	for _, e := range g.Edges {
		from, to := index[e.From.Node], index[e.To.Node]
		t.inputs[to][e.To.Port] = append(t.inputs[to][e.To.Port], src{from, e.From.Port})
		if !slices.Contains(t.preds[to], from) {
			t.preds[to] = append(t.preds[to], from)
		}
		if !slices.Contains(t.succ[from], to) {
			t.succ[from] = append(t.succ[from], to)
		}
	}
	t.terminal = make([]bool, len(g.Nodes))
	for i := range g.Nodes {
		slices.Sort(t.preds[i])
		slices.Sort(t.succ[i])
		if len(t.preds[i]) == 0 {
			t.sources = append(t.sources, i)
		}
		if len(t.succ[i]) == 0 {
			t.terminals = append(t.terminals, i)
			t.terminal[i] = true
		}
	}
	for _, name := range s.Order {
		t.order = append(t.order, index[name])
	}
	t.level = make([]int, len(g.Nodes))
	for l, names := range s.Levels {
		for _, name := range names {
			t.level[index[name]] = l
		}
	}
	t.depth = len(s.Levels)
	return t, nil
}

// outputs returns each node's number of output ports.
func (t *topology) outputs() []int {
	o := make([]int, len(t.procs))
	for i, p := range t.procs {
		o[i] = p.Outputs()
	}
	return o
}

// resolveSink turns sink ports into output ports of t, checking each.
func (t *topology) resolveSink(sink []Port) ([]src, error) {
	if len(sink) == 0 {
		return nil, fieldErr(ErrInvalidGraph, "engine", "Sink", nil, "record at least one output port")
	}
	out := make([]src, len(sink))
	for k, p := range sink {
		i := slices.Index(t.names, p.Node)
		field := fmt.Sprintf("Sink[%d]", k)
		if i < 0 {
			return nil, fieldErr(ErrInvalidGraph, "engine", field+".Node", p.Node, "no such node")
		}
		if n := t.procs[i].Outputs(); p.Port < 0 || p.Port >= n {
			return nil, fieldErr(ErrInvalidGraph, "engine", field+".Port", p.Port, "node %q (%s) has %d outputs", p.Node, t.kinds[i], n)
		}
		out[k] = src{i, p.Port}
	}
	return out, nil
}

// mixInto sums srcs into dst sample by sample, in order, in float32: the
// one fan-in rule, shared by node processes and Render so that both give
// the same bits.
func mixInto(dst []float32, srcs [][]float32) {
	copy(dst, srcs[0])
	for _, s := range srcs[1:] {
		s = s[:len(dst)]
		for i := range dst {
			dst[i] += s[i]
		}
	}
}

// wireGraph is a Graph as passed to node processes (without Kinds).
type wireGraph struct {
	Rate      int
	BlockSize int
	Nodes     []Node
	Edges     []Edge
}

func encodeGraph(g *Graph) (string, error) {
	b, err := json.Marshal(wireGraph{Rate: g.Rate, BlockSize: g.BlockSize, Nodes: g.Nodes, Edges: g.Edges})
	return string(b), err
}

func decodeGraph(s string) (*Graph, error) {
	var w wireGraph
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return nil, err
	}
	return &Graph{Rate: w.Rate, BlockSize: w.BlockSize, Nodes: w.Nodes, Edges: w.Edges}, nil
}

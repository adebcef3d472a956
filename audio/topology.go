package audio

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
	// terminals feed nothing.
	terminals []int
	terminal  []bool

	// Hosts: the worker processes (procbridge groups) that run the nodes,
	// one per Node.Process shared, one per node alone (Graph.hostsOf).
	hostOf    []int    // per node, its host
	members   [][]int  // per host, its nodes in topological order
	hostNames []string // per host, its Process, or its node's name
	shared    []bool   // per host, named by a Process
	// hostPreds[h] lists the nodes outside h that feed a node of h,
	// ascending; hostSucc[i] the hosts other than node i's that it feeds.
	hostPreds   [][]int
	hostSucc    [][]int
	hostSources []int // hosts no node outside feeds
	hostLevel   []int // per host, its level in the hosts' schedule
	hostDepth   int   // hosts on the longest chain
}

// src is one output port: node index and port.
type src struct{ node, port int }

// newTopology validates g and resolves it. When processes run the nodes,
// the kinds are defaultKinds: a node process rebuilds its kernels from the
// kinds' names, in the process-wide registry, which it fills
// the same way while it initialises.
func newTopology(g *Graph) (*topology, error) {
	s, err := g.schedule()
	if err != nil {
		return nil, err
	}
	t := &topology{rate: g.Rate, blockSize: g.BlockSize}
	index := make(map[string]int, len(g.Nodes))
	for i, n := range g.Nodes {
		p, err := g.buildNode(n, g.Rate)
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
		if len(t.succ[i]) == 0 {
			t.terminals = append(t.terminals, i)
			t.terminal[i] = true
		}
	}
	for _, name := range s.Order {
		t.order = append(t.order, index[name])
	}
	t.resolveHosts(g)
	return t, nil
}

// resolveHosts groups the nodes into hosts. Graph.schedule has checked
// that no path leaves a host and comes back, so the hosts form a DAG.
func (t *topology) resolveHosts(g *Graph) {
	var first []int
	t.hostOf, first = g.hostsOf()
	n := len(first)
	t.members = make([][]int, n)
	for _, i := range t.order {
		t.members[t.hostOf[i]] = append(t.members[t.hostOf[i]], i)
	}
	for _, i := range first {
		name := g.Nodes[i].Process
		t.shared = append(t.shared, name != "")
		if name == "" {
			name = g.Nodes[i].Name
		}
		t.hostNames = append(t.hostNames, name)
	}
	t.hostPreds = make([][]int, n)
	t.hostSucc = make([][]int, len(t.names))
	for i := range t.names {
		h := t.hostOf[i]
		for _, p := range t.preds[i] {
			if t.hostOf[p] != h && !slices.Contains(t.hostPreds[h], p) {
				t.hostPreds[h] = append(t.hostPreds[h], p)
			}
		}
		for _, s := range t.succ[i] {
			if hs := t.hostOf[s]; hs != h && !slices.Contains(t.hostSucc[i], hs) {
				t.hostSucc[i] = append(t.hostSucc[i], hs)
			}
		}
	}
	// Levels of hosts: a host comes after every host that feeds it (the
	// longest path in the hosts' DAG, relaxed until it holds: at most one
	// pass per host).
	t.hostLevel = make([]int, n)
	for changed := true; changed; {
		changed = false
		for i := range t.names {
			for _, hs := range t.hostSucc[i] {
				if l := t.hostLevel[t.hostOf[i]] + 1; l > t.hostLevel[hs] {
					t.hostLevel[hs], changed = l, true
				}
			}
		}
	}
	for h := range n {
		slices.Sort(t.hostPreds[h])
		if len(t.hostPreds[h]) == 0 {
			t.hostSources = append(t.hostSources, h)
		}
		t.hostDepth = max(t.hostDepth, t.hostLevel[h]+1)
	}
}

// hostStateSize is the size of host h's committed state: the header, then
// each member's kernel state in turn.
func (t *topology) hostStateSize(h int) int {
	n := stateHeader
	for _, i := range t.members[h] {
		n += t.procs[i].StateSize()
	}
	return n
}

// hostLabel names host h for people: node "x", or process "p" (a, b).
func (t *topology) hostLabel(h int) string {
	if !t.shared[h] {
		return fmt.Sprintf("node %q", t.hostNames[h])
	}
	names := make([]string, len(t.members[h]))
	for k, i := range t.members[h] {
		names[k] = t.names[i]
	}
	return fmt.Sprintf("process %q (nodes %s)", t.hostNames[h], strings.Join(names, ", "))
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
		return nil, fieldErr(ErrInvalidGraph, "Sink", nil, "record at least one output port")
	}
	out := make([]src, len(sink))
	for k, p := range sink {
		i := slices.Index(t.names, p.Node)
		field := fmt.Sprintf("Sink[%d]", k)
		if i < 0 {
			return nil, fieldErr(ErrInvalidGraph, field+".Node", p.Node, "no such node")
		}
		if n := t.procs[i].Outputs(); p.Port < 0 || p.Port >= n {
			return nil, fieldErr(ErrInvalidGraph, field+".Port", p.Port, "node %q (%s) has %d outputs", p.Node, t.kinds[i], n)
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

// wireGraph is a Graph as passed to node processes (without Kinds), with
// what its exec nodes' executables said of themselves.
type wireGraph struct {
	Rate      int
	BlockSize int
	Nodes     []Node
	Edges     []Edge
	Exec      []*execEntry `json:",omitempty"`
}

func encodeGraph(g *Graph) (string, error) {
	b, err := json.Marshal(wireGraph{Rate: g.Rate, BlockSize: g.BlockSize, Nodes: g.Nodes, Edges: g.Edges, Exec: execEntries(g)})
	return string(b), err
}

func decodeGraph(s string) (*Graph, error) {
	var w wireGraph
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return nil, err
	}
	seedExec(w.Exec)
	return &Graph{Rate: w.Rate, BlockSize: w.BlockSize, Nodes: w.Nodes, Edges: w.Edges}, nil
}

package audio

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/understudy/understudy/procbridge"
)

// Bounds of Graph.BlockSize, which must also be a power of two.
const (
	minBlockSize = 16
	maxBlockSize = 4096
)

// maxNameLen bounds node and kind names.
const maxNameLen = 64

// A Graph describes a DSP graph: processor nodes joined by edges from output
// ports to input ports, all running at one sample rate and block size.
//
// Each port carries one mono channel. An output port may feed any number of
// inputs (fan-out). Several edges into one input port are summed (fan-in), in
// the order the edges are listed, so the sum is the same on every run. An
// input port no edge reaches reads silence.
//
// A Graph is plain data: build it, then [Graph.Validate] it.
type Graph struct {
	Rate      int    // sample rate in frames per second, at least 1
	BlockSize int    // frames per block, a power of two from 16 to 4096
	Nodes     []Node // in any order; the order breaks ties in the order nodes run
	Edges     []Edge // each From an output port, each To an input port

	kinds *registry // the kinds Nodes name (tests); nil means defaultKinds
}

// A Node is one processor in a [Graph].
type Node struct {
	// Name is unique in the graph: 1 to 64 bytes of ASCII letters, digits,
	// '_', '-' and '.'.
	Name   string
	Kind   string // a kind: built in, or added with RegisterKind
	Params Params // checked against the kind's ParamSpecs
	// Process, when set, names the worker process the node runs in: nodes
	// with the same Process run together in one process (a primary with
	// its hot spares, as a lone node does), one after the other in the
	// graph's order, committing their state together once per block, so
	// that a spare resumes them all from the same block. Empty: the node
	// runs in a process of its own. Sharing saves a process and a wake per
	// node; it suits light nodes, whose compute is small beside a wake (see
	// docs/performance.md). The same rules as Name apply. No chain of edges
	// may leave a process and come back to it (a → b → c with a and c in
	// one process and b outside), directly or through other processes:
	// a process computes its nodes in one go. Render ignores Process.
	Process string
	// Path is the executable that serves a node of kind "exec": a program
	// built with the C node library (sdk/c/understudy_node.h) or any
	// other that speaks the node protocol (docs/node-protocol.md). The
	// engine runs it as the node's process, with its spares; Render runs
	// it too, block by block, so the reference is its own output. Its
	// ports, state size and parameters are what it declares. A relative
	// path is taken from the working directory. Only with kind exec, and
	// never with Process.
	Path string
}

// A Port names one port of a node: an output port when it is an [Edge]'s
// From, an input port when it is its To. Ports count from 0.
type Port struct {
	Node string
	Port int
}

// String returns "node:port".
func (p Port) text() string { return p.Node + ":" + strconv.Itoa(p.Port) }

// An Edge carries one output port's block to one input port.
type Edge struct {
	From Port // an output port
	To   Port // an input port
}

// text returns "from -> to".
func (e Edge) text() string { return e.From.text() + " -> " + e.To.text() }

// A schedule is an order in which a graph's nodes can run.
type schedule struct {
	// Order lists every node after every node that feeds it.
	Order []string
	// Levels partitions Order: Levels[0] holds the nodes no edge feeds, and
	// Levels[k] those whose longest chain of feeding nodes has k of them.
	// Nodes within a level do not feed one another, directly or not, so they
	// may run in parallel once the levels before have run. Within a level,
	// nodes keep their order in Graph.Nodes; Order is the levels in turn.
	Levels [][]string
}

// Validate checks the whole graph and reports every problem it finds, each
// a *procbridge.SpecError wrapping [ErrInvalidGraph] that names the field
// and its value, joined with [errors.Join]:
//
//   - Rate below 1, or BlockSize not a power of two from 16 to 4096;
//   - a node name or Process that is empty, malformed or repeated;
//   - a kind not registered (its Field is Nodes[i].Kind);
//   - parameters the kind rejects at this rate (Nodes[i].Params["name"],
//     or Rate);
//   - an edge naming a node or port that does not exist, or repeating an
//     earlier edge;
//   - a cycle (Field "Edges", the cycle's path in Reason);
//   - processes that feed each other in a cycle (Nodes[i].Process).
//
// For example, `audio: invalid graph: Edges[2].To.Port = 3: node "mix"
// (mixer) has inputs 0..1`.
func (g *Graph) Validate() error {
	_, err := g.check()
	return err
}

// Outputs returns the graph's outputs: every output port of its nodes that
// no edge reads, in the order of Nodes and, within a node, of its ports.
// It returns nil for a graph Validate rejects.
func (g *Graph) Outputs() []Port {
	if _, err := g.check(); err != nil {
		return nil
	}
	read := make(map[Port]bool, len(g.Edges))
	for _, e := range g.Edges {
		read[e.From] = true
	}
	var out []Port
	for _, n := range g.Nodes {
		p, err := g.buildNode(n, g.Rate)
		if err != nil {
			return nil
		}
		for port := range p.Outputs() {
			if q := (Port{Node: n.Name, Port: port}); !read[q] {
				out = append(out, q)
			}
		}
	}
	return out
}

// schedule validates the graph, as Validate does, and returns the order
// its nodes can run in.
func (g *Graph) schedule() (schedule, error) {
	succ, err := g.check()
	if err != nil {
		return schedule{}, err
	}
	indeg := make([]int, len(g.Nodes))
	for _, ss := range succ {
		for _, j := range ss {
			indeg[j]++
		}
	}
	var level []int
	for i, d := range indeg {
		if d == 0 {
			level = append(level, i)
		}
	}
	s := schedule{Order: make([]string, 0, len(g.Nodes))}
	for len(level) > 0 {
		names := make([]string, len(level))
		var next []int
		for k, i := range level {
			names[k] = g.Nodes[i].Name
			for _, j := range succ[i] {
				if indeg[j]--; indeg[j] == 0 {
					next = append(next, j)
				}
			}
		}
		s.Levels = append(s.Levels, names)
		s.Order = append(s.Order, names...)
		slices.Sort(next)
		level = next
	}
	return s, nil
}

// check validates g and returns, for each node index, the indexes of the
// nodes its valid edges feed, in edge order (repeated for parallel edges).
func (g *Graph) check() (succ [][]int, err error) {
	var errs []error
	bad := func(field string, value any, format string, args ...any) {
		errs = append(errs, fieldErr(ErrInvalidGraph, field, value, format, args...))
	}
	if g.Rate < 1 {
		bad("Rate", g.Rate, "must be at least 1")
	}
	if g.BlockSize < minBlockSize || g.BlockSize > maxBlockSize || bits.OnesCount(uint(g.BlockSize)) != 1 {
		bad("BlockSize", g.BlockSize, "must be a power of two from %d to %d", minBlockSize, maxBlockSize)
	}

	kinds := g.registry()
	index := make(map[string]int, len(g.Nodes))
	procs := make([]Processor, len(g.Nodes)) // nil where the node is invalid
	for i, n := range g.Nodes {
		field := fmt.Sprintf("Nodes[%d]", i)
		if err := checkName(n.Name); err != nil {
			bad(field+".Name", n.Name, "%s", err)
		} else if first, dup := index[n.Name]; dup {
			bad(field+".Name", n.Name, "repeats Nodes[%d].Name", first)
		} else {
			index[n.Name] = i
		}
		if n.Process != "" {
			if err := checkName(n.Process); err != nil {
				bad(field+".Process", n.Process, "%s", err)
			}
		}
		if _, ok := kinds.lookup(n.Kind); !ok && n.Kind != execKind {
			errs = append(errs, nodeErr(i, n, kinds.unknownKind(n.Kind)))
			continue
		}
		if g.Rate < 1 {
			continue // reported above; every node would repeat it
		}
		p, err := g.buildNode(n, g.Rate)
		if err != nil {
			errs = append(errs, nodeErr(i, n, err))
			continue
		}
		procs[i] = p
	}

	succ = make([][]int, len(g.Nodes))
	seen := make(map[Edge]int, len(g.Edges))
	for e, edge := range g.Edges {
		field := fmt.Sprintf("Edges[%d]", e)
		from, errFrom := g.endpoint(field+".From", edge.From, index, procs, false)
		to, errTo := g.endpoint(field+".To", edge.To, index, procs, true)
		for _, err := range []error{errFrom, errTo} {
			if err != nil {
				errs = append(errs, err)
			}
		}
		if first, dup := seen[edge]; dup {
			bad(field, edge.text(), "repeats Edges[%d]", first)
			continue
		}
		seen[edge] = e
		if errFrom == nil && errTo == nil {
			succ[from] = append(succ[from], to)
		}
	}

	if cycle := findCycle(succ); cycle != nil {
		path := make([]string, len(cycle))
		for k, i := range cycle {
			path[k] = g.Nodes[i].Name
		}
		errs = append(errs, fieldErr(ErrInvalidGraph, "Edges", nil, "a cycle: %s", strings.Join(path, " -> ")))
	} else if err := g.checkProcesses(succ); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return succ, nil
}

// hostsOf groups the nodes into hosts, the worker processes that run
// them: one per distinct Node.Process, in order of first appearance, and
// one per node with no Process. It returns each node's host and each
// host's first node.
func (g *Graph) hostsOf() (host []int, first []int) {
	host = make([]int, len(g.Nodes))
	named := map[string]int{}
	for i, n := range g.Nodes {
		if n.Process != "" {
			if h, ok := named[n.Process]; ok {
				host[i] = h
				continue
			}
			named[n.Process] = len(first)
		}
		host[i] = len(first)
		first = append(first, i)
	}
	return host, first
}

// checkProcesses reports processes that feed each other in a cycle (the
// node graph, succ, has none): a process computes all its nodes in one
// activation, so no path may leave a process and come back to it.
func (g *Graph) checkProcesses(succ [][]int) error {
	host, first := g.hostsOf()
	if len(first) == len(g.Nodes) {
		return nil
	}
	hsucc := make([][]int, len(first))
	via := map[[2]int][2]int{} // host edge → a node edge behind it
	for i, ss := range succ {
		for _, j := range ss {
			a, b := host[i], host[j]
			if a == b {
				continue
			}
			if _, ok := via[[2]int{a, b}]; !ok {
				via[[2]int{a, b}] = [2]int{i, j}
				hsucc[a] = append(hsucc[a], b)
			}
		}
	}
	cycle := findCycle(hsucc)
	if cycle == nil {
		return nil
	}
	// Start the cycle at a shared process, and name its hops by the edges
	// behind them.
	k := slices.IndexFunc(cycle[:len(cycle)-1], func(h int) bool { return g.Nodes[first[h]].Process != "" })
	cycle = append(slices.Clone(cycle[k:len(cycle)-1]), cycle[:k+1]...)
	label := func(h int) string {
		if p := g.Nodes[first[h]].Process; p != "" {
			return fmt.Sprintf("process %q", p)
		}
		return fmt.Sprintf("node %q", g.Nodes[first[h]].Name)
	}
	hops := make([]string, len(cycle))
	edges := make([]string, len(cycle)-1)
	for x, h := range cycle {
		hops[x] = label(h)
		if x+1 < len(cycle) {
			e := via[[2]int{h, cycle[x+1]}]
			edges[x] = g.Nodes[e[0]].Name + " -> " + g.Nodes[e[1]].Name
		}
	}
	i := first[cycle[0]]
	return fieldErr(ErrInvalidGraph, fmt.Sprintf("Nodes[%d].Process", i), g.Nodes[i].Process,
		"processes feed each other in a cycle: %s (edges %s); a process computes all its nodes at once, "+
			"so no chain of edges may leave it and come back: run the nodes between in the same process, or split it",
		strings.Join(hops, " -> "), strings.Join(edges, ", "))
}

// endpoint resolves one end of an edge to a node index. It reports a missing
// node, and a port out of range when the node's processor is known (when it
// is not, the node's own error has been reported).
func (g *Graph) endpoint(field string, p Port, index map[string]int, procs []Processor, input bool) (int, error) {
	i, found := index[p.Node]
	if !found {
		return 0, fieldErr(ErrInvalidGraph, field+".Node", p.Node, "no such node")
	}
	proc := procs[i]
	if proc == nil {
		return i, nil
	}
	what, n := "outputs", proc.Outputs()
	if input {
		what, n = "inputs", proc.Inputs()
	}
	switch {
	case n == 0:
		return 0, fieldErr(ErrInvalidGraph, field+".Port", p.Port, "node %q (%s) has no %s",
			p.Node, g.Nodes[i].Kind, what)
	case p.Port < 0 || p.Port >= n:
		return 0, fieldErr(ErrInvalidGraph, field+".Port", p.Port, "node %q (%s) has %s 0..%d",
			p.Node, g.Nodes[i].Kind, what, n-1)
	}
	return i, nil
}

// nodeErr restates an error of a kind in terms of node i: the field "kind"
// becomes Nodes[i].Kind, "rate" becomes Rate and a parameter p becomes
// Nodes[i].Params["p"].
func nodeErr(i int, n Node, err error) error {
	var se *procbridge.SpecError
	if !errors.As(err, &se) {
		return fmt.Errorf("%w: Nodes[%d] %q (%s): %w", ErrInvalidGraph, i, n.Name, n.Kind, err)
	}
	var field string
	switch se.Field {
	case "kind":
		field = fmt.Sprintf("Nodes[%d].Kind", i)
	case "rate":
		field = "Rate"
	case "path":
		field = fmt.Sprintf("Nodes[%d].Path", i)
	case "process":
		field = fmt.Sprintf("Nodes[%d].Process", i)
	default:
		field = fmt.Sprintf("Nodes[%d].Params[%q]", i, se.Field)
	}
	return &procbridge.SpecError{
		Field:  field,
		Value:  se.Value,
		Reason: fmt.Sprintf("node %q (%s): %s", n.Name, n.Kind, se.Reason),
		Err:    ErrInvalidGraph,
	}
}

// buildNode returns node n's Processor at rate: built by its kind, or for
// kind exec described by its executable.
func (g *Graph) buildNode(n Node, rate int) (Processor, error) {
	if n.Kind == execKind {
		return buildExec(n, rate)
	}
	if n.Path != "" {
		return nil, fieldErr(ErrInvalidGraph, "path", n.Path, "only a node of kind exec runs an executable (kind is %q)", n.Kind)
	}
	return g.registry().build(n.Kind, rate, n.Params)
}

// registry returns the kinds g's nodes name.
func (g *Graph) registry() *registry {
	if g.kinds != nil {
		return g.kinds
	}
	return defaultKinds
}

// findCycle returns the node indexes along a cycle, the first repeated at the
// end, or nil. It searches depth first from each node in order, so the cycle
// it reports is the same on every run.
func findCycle(succ [][]int) []int {
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]int, len(succ))
	var path []int
	var visit func(i int) []int
	visit = func(i int) []int {
		state[i] = onPath
		path = append(path, i)
		for _, j := range succ[i] {
			switch state[j] {
			case onPath:
				start := slices.Index(path, j)
				return append(slices.Clone(path[start:]), j)
			case unseen:
				if c := visit(j); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		return nil
	}
	for i := range succ {
		if state[i] == unseen {
			if c := visit(i); c != nil {
				return c
			}
		}
	}
	return nil
}

// checkName reports whether s is a valid node or kind name.
func checkName(s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("must be 1 to %d bytes", maxNameLen)
	}
	for _, c := range []byte(s) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
		if !ok {
			return fmt.Errorf("byte %q not allowed: use ASCII letters, digits, '_', '-', '.'", c)
		}
	}
	return nil
}

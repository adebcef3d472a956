package supervision

import (
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/understudy/understudy/internal/limits"
)

// Audio is the audio graph a spec file declares (its `audio` section), as
// plain data whose fields are named as audio.Graph's are. This package
// cannot import audio (audio builds on supervision), so the loader checks
// what it can without the kinds — numbers in range, node names unique, every
// edge and output port naming a declared node — and the program that runs
// the graph builds an audio.Graph from it and validates kinds, parameters
// and ports with the audio package, placing those errors with File.Pos
// (Go field paths "Audio.Nodes[2].Params[\"freq\"]", "Audio.Edges[1].To.Port").
//
// Defaults of the file are applied at load: every field holds its value.
type Audio struct {
	// Rate is the sample rate in frames per second (the file's default,
	// 48000).
	Rate int
	// BlockSize is the number of frames per block, a power of two from 16
	// to 4096 (the file's default, 128).
	BlockSize int
	// Slack is the output latency in blocks: block k is due by the end of
	// period k+Slack, which leaves Slack periods for a spare to compute
	// again a block whose node failed (the file's default, 1; 0 is none).
	Slack int
	// Standby is the number of hot-standby spare processes of every node
	// (the file's default, 1).
	Standby int
	// Duration is how much `understudy render` renders (the file's
	// default, 1s).
	Duration time.Duration
	// Nodes are the graph's processors, in file order.
	Nodes []AudioNode
	// Edges join output ports to input ports, in file order (the order
	// fan-in sums them).
	Edges []AudioEdge
	// Output is where a render goes.
	Output AudioOutput
}

// AudioNode is one node of an Audio graph.
type AudioNode struct {
	Name   string
	Kind   string
	Params map[string]float64
	// Process, when set, names the worker process the node shares with
	// the other nodes naming it (audio.Node.Process); empty, the node runs
	// in a process of its own. The loader checks that no chain of edges
	// leaves a process and comes back to it.
	Process string
}

// AudioPort names one port of a node, counting from 0.
type AudioPort struct {
	Node string
	Port int
}

// text returns "node:port".
func (p AudioPort) text() string { return p.Node + ":" + strconv.Itoa(p.Port) }

// AudioEdge carries an output port's block to an input port.
type AudioEdge struct {
	From, To AudioPort
}

// text returns "from -> to".
func (e AudioEdge) text() string { return e.From.text() + " -> " + e.To.text() }

// AudioOutput is where a render goes.
type AudioOutput struct {
	// Path is the WAV file; empty when the file names none.
	Path string
	// Ports are the output ports written, one WAV channel each, in
	// order. Empty means every output port no edge reads, in node order.
	Ports []AudioPort
}

// Defaults and bounds of the audio section.
const (
	defaultAudioRate     = 48000
	defaultAudioBlock    = 128
	defaultAudioDuration = time.Second
	defaultAudioStandby  = 1
	defaultAudioSlack    = 1
	maxAudioRate         = 768000
	minAudioBlock        = 16   // the audio engine's smallest block
	maxAudioBlock        = 4096 // and largest
	maxAudioSlack        = 64   // the most slack it takes
	maxAudioDuration     = 10 * time.Minute
	maxAudioNameLen      = 64
)

var (
	audioKeys       = []string{"rate", "block_size", "slack", "duration", "standby", "nodes", "edges", "output"}
	audioNodeKeys   = []string{"name", "kind", "params", "process"}
	audioEdgeKeys   = []string{"from", "to"}
	audioPortKeys   = []string{"node", "port"}
	audioOutputKeys = []string{"path", "ports"}
)

// audio decodes the audio section.
func (d *decoder) audio(n *yaml.Node, path, goPath string) *Audio {
	a := &Audio{Rate: defaultAudioRate, BlockSize: defaultAudioBlock, Duration: defaultAudioDuration, Slack: defaultAudioSlack, Standby: defaultAudioStandby}
	m := d.mapping(n, path, "audio: {rate: 48000, block_size: 128, nodes: [...], edges: [...], output: out.wav}", audioKeys)
	if m == nil {
		return a
	}
	d.mark(goPath, m.node)
	key := func(k string) string { return joinPath(path, k) }
	if v := m.get("rate"); v != nil {
		d.mark(goPath+".Rate", v)
		if r, ok := d.integer(v, key("rate")); ok {
			if r < 1 || r > maxAudioRate {
				d.fail(v, key("rate"), "", "%d is out of range: want 1 to %d", r, maxAudioRate)
			} else {
				a.Rate = int(r)
			}
		}
	}
	if v := m.get("block_size"); v != nil {
		d.mark(goPath+".BlockSize", v)
		if b, ok := d.integer(v, key("block_size")); ok {
			switch {
			case b < minAudioBlock || b > maxAudioBlock:
				d.fail(v, key("block_size"), "64, 128 or 256 frames are usual", "%d is out of range: want a power of two from %d to %d", b, minAudioBlock, maxAudioBlock)
			case bits.OnesCount64(uint64(b)) != 1:
				d.fail(v, key("block_size"), "try "+strconv.FormatInt(nextPow2(b), 10), "%d is not a power of two", b)
			default:
				a.BlockSize = int(b)
			}
		}
	}
	if v := m.get("slack"); v != nil {
		d.mark(goPath+".Slack", v)
		if n, ok := d.integer(v, key("slack")); ok {
			if n < 0 || n > maxAudioSlack {
				d.fail(v, key("slack"), "the slack counts blocks of output latency", "%d is out of range: want 0 to %d", n, maxAudioSlack)
			} else {
				a.Slack = int(n)
			}
		}
	}
	if v := m.get("duration"); v != nil {
		d.mark(goPath+".Duration", v)
		if t, ok := d.duration(v, key("duration")); ok {
			if t <= 0 || t > maxAudioDuration {
				d.fail(v, key("duration"), "", "%s is out of range: want above 0, up to %s", formatDuration(t), formatDuration(maxAudioDuration))
			} else {
				a.Duration = t
			}
		}
	}
	if v := m.get("standby"); v != nil {
		d.mark(goPath+".Standby", v)
		if n, ok := d.integer(v, key("standby")); ok {
			if n < 1 || n > limits.MaxSpares {
				d.fail(v, key("standby"), "every node of a graph has at least one spare", "%d is out of range: want 1 to %d", n, limits.MaxSpares)
			} else {
				a.Standby = int(n)
			}
		}
	}

	index := map[string]int{}
	var procNodes []*yaml.Node // per node, its process key's value, for positions
	if v := m.get("nodes"); v != nil {
		d.mark(goPath+".Nodes", v)
		list := d.deref(v)
		switch {
		case list == nil:
		case list.Kind != yaml.SequenceNode:
			d.fail(list, key("nodes"), "", "want a list of nodes, got %s", describe(list))
		default:
			for i, item := range list.Content {
				node, nameNode, procNode := d.audioNode(item, fmt.Sprintf("%s[%d]", key("nodes"), i), fmt.Sprintf("%s.Nodes[%d]", goPath, i))
				procNodes = append(procNodes, procNode)
				if node.Name != "" {
					if first, dup := index[node.Name]; dup {
						d.fail(nameNode, fmt.Sprintf("%s[%d].name", key("nodes"), i), fmt.Sprintf("first at nodes[%d]", first), "duplicate node name '%s'", node.Name)
					} else {
						index[node.Name] = i
					}
				}
				a.Nodes = append(a.Nodes, node)
			}
		}
	}
	if len(a.Nodes) == 0 {
		at := m.node
		if v := m.get("nodes"); v != nil {
			at = d.deref(v)
		}
		d.fail(at, key("nodes"), "nodes: [{name: osc, kind: sine, params: {freq: 440}}]", "an audio graph needs at least one node")
	}
	names := make([]string, 0, len(a.Nodes))
	for i, n := range a.Nodes {
		if n.Name != "" && index[n.Name] == i {
			names = append(names, n.Name)
		}
	}

	if v := m.get("edges"); v != nil {
		d.mark(goPath+".Edges", v)
		list := d.deref(v)
		switch {
		case list == nil:
		case list.Kind != yaml.SequenceNode:
			d.fail(list, key("edges"), "", "want a list of edges, got %s", describe(list))
		default:
			for i, item := range list.Content {
				e, ok := d.audioEdge(item, fmt.Sprintf("%s[%d]", key("edges"), i), fmt.Sprintf("%s.Edges[%d]", goPath, i), index, names)
				if ok {
					a.Edges = append(a.Edges, e)
				}
			}
		}
	}
	if v := m.get("output"); v != nil {
		a.Output = d.audioOutput(v, key("output"), goPath+".Output", index, names)
	}
	d.audioProcesses(a, index, procNodes, key("nodes"))
	return a
}

// audioProcesses reports processes that feed each other in a cycle: a
// process computes all its nodes at once, so no chain of edges may leave it
// and come back (audio.Graph.Validate says the same). A cycle of the nodes
// themselves is the audio package's to report.
func (d *decoder) audioProcesses(a *Audio, index map[string]int, procNodes []*yaml.Node, path string) {
	host := make([]int, len(a.Nodes))
	var first []int
	named := map[string]int{}
	for i, n := range a.Nodes {
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
	if len(named) == 0 {
		return
	}
	succ := make([][]int, len(first))
	via := map[[2]int][2]int{}
	nodeSucc := make([][]int, len(a.Nodes))
	for _, e := range a.Edges {
		i, okI := index[e.From.Node]
		j, okJ := index[e.To.Node]
		if !okI || !okJ {
			continue
		}
		nodeSucc[i] = append(nodeSucc[i], j)
		if hi, hj := host[i], host[j]; hi != hj {
			if _, seen := via[[2]int{hi, hj}]; !seen {
				via[[2]int{hi, hj}] = [2]int{i, j}
				succ[hi] = append(succ[hi], hj)
			}
		}
	}
	if graphCycle(nodeSucc) != nil {
		return // the nodes' own cycle: reported when the graph is built
	}
	cycle := graphCycle(succ)
	if cycle == nil {
		return
	}
	k := slices.IndexFunc(cycle[:len(cycle)-1], func(h int) bool { return a.Nodes[first[h]].Process != "" })
	cycle = append(slices.Clone(cycle[k:len(cycle)-1]), cycle[:k+1]...)
	hops := make([]string, len(cycle))
	edges := make([]string, len(cycle)-1)
	for x, h := range cycle {
		if p := a.Nodes[first[h]].Process; p != "" {
			hops[x] = "process '" + p + "'"
		} else {
			hops[x] = "node '" + a.Nodes[first[h]].Name + "'"
		}
		if x+1 < len(cycle) {
			e := via[[2]int{h, cycle[x+1]}]
			edges[x] = a.Nodes[e[0]].Name + " -> " + a.Nodes[e[1]].Name
		}
	}
	i := first[cycle[0]]
	d.fail(procNodes[i], fmt.Sprintf("%s[%d].process", path, i),
		"a process computes all its nodes at once: run the nodes between in the same process, or split it",
		"processes feed each other in a cycle: %s (edges %s)", strings.Join(hops, " -> "), strings.Join(edges, ", "))
}

// graphCycle returns the vertices along a cycle of succ, the first repeated
// at the end, or nil; depth first from each vertex in order.
func graphCycle(succ [][]int) []int {
	state := make([]int, len(succ)) // 0 unseen, 1 on the path, 2 done
	var path []int
	var visit func(i int) []int
	visit = func(i int) []int {
		state[i] = 1
		path = append(path, i)
		for _, j := range succ[i] {
			switch state[j] {
			case 1:
				return append(slices.Clone(path[slices.Index(path, j):]), j)
			case 0:
				if c := visit(j); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = 2
		return nil
	}
	for i := range succ {
		if state[i] == 0 {
			if c := visit(i); c != nil {
				return c
			}
		}
	}
	return nil
}

// audioNode decodes one node; it returns its name's and its process's
// nodes for positions (the node's own where they are missing).
func (d *decoder) audioNode(n *yaml.Node, path, goPath string) (AudioNode, *yaml.Node, *yaml.Node) {
	var node AudioNode
	m := d.mapping(n, path, "a node: {name: osc, kind: sine, params: {freq: 440}}", audioNodeKeys)
	if m == nil {
		return node, n, n
	}
	procNode := m.node
	if v := m.get("process"); v != nil {
		procNode = v
		d.mark(goPath+".Process", v)
		if s, ok := d.str(v, joinPath(path, "process")); ok {
			if s == "" {
				d.fail(v, joinPath(path, "process"), "leave it out to run the node in a process of its own", "empty process")
			} else if msg := checkAudioName(s); msg != "" {
				d.fail(v, joinPath(path, "process"), "", "process '%s' %s", s, msg)
			} else {
				node.Process = s
			}
		}
	}
	d.mark(goPath, m.node)
	nameNode := m.get("name")
	if nameNode != nil {
		d.mark(goPath+".Name", nameNode)
		if s, ok := d.str(nameNode, joinPath(path, "name")); ok {
			if s == "" {
				d.fail(nameNode, joinPath(path, "name"), "", "empty name")
			} else if msg := checkAudioName(s); msg != "" {
				d.fail(nameNode, joinPath(path, "name"), "", "name '%s' %s", s, msg)
			} else {
				node.Name = s
			}
		}
	} else {
		d.fail(m.node, path, "", "missing 'name'")
		nameNode = m.node
	}
	if v := m.get("kind"); v != nil {
		d.mark(goPath+".Kind", v)
		if s, ok := d.str(v, joinPath(path, "kind")); ok {
			if s == "" {
				d.fail(v, joinPath(path, "kind"), "such as kind: sine", "empty kind")
			} else if msg := checkAudioName(s); msg != "" {
				d.fail(v, joinPath(path, "kind"), "", "kind '%s' %s", s, msg)
			} else {
				node.Kind = s
			}
		}
	} else {
		d.fail(m.node, path, "such as kind: sine", "missing 'kind'")
	}
	if v := m.get("params"); v != nil {
		d.mark(goPath+".Params", v)
		pm := d.deref(v)
		switch {
		case pm == nil:
		case pm.Kind != yaml.MappingNode:
			d.fail(pm, joinPath(path, "params"), "params: {freq: 440}", "want a mapping of parameters, got %s", describe(pm))
		default:
			node.Params = map[string]float64{}
			for i := 0; i+1 < len(pm.Content); i += 2 {
				k := d.deref(pm.Content[i])
				if k == nil {
					continue
				}
				kpath := joinPath(joinPath(path, "params"), k.Value)
				if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" || k.Value == "" {
					d.fail(k, joinPath(path, "params"), "", "a parameter name must be a string, not %s", describe(k))
					continue
				}
				if _, dup := node.Params[k.Value]; dup {
					d.fail(k, kpath, "", "duplicate parameter '%s'", k.Value)
					continue
				}
				f, ok := d.number(pm.Content[i+1], kpath)
				if !ok {
					continue
				}
				node.Params[k.Value] = f
				d.mark(fmt.Sprintf("%s.Params[%q]", goPath, k.Value), pm.Content[i+1])
			}
			if len(node.Params) == 0 {
				node.Params = nil
			}
		}
	}
	return node, nameNode, procNode
}

// checkAudioName says what is wrong with a node or kind name, as the audio
// package would.
func checkAudioName(s string) string {
	if s == "" {
		return "is empty"
	}
	if len(s) > maxAudioNameLen {
		return fmt.Sprintf("must be 1 to %d bytes", maxAudioNameLen)
	}
	for _, c := range []byte(s) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
		if !ok {
			return fmt.Sprintf("has %q: use ASCII letters, digits, '_', '-' and '.'", c)
		}
	}
	return ""
}

// audioEdge decodes an edge: "from -> to", or {from: PORT, to: PORT}.
func (d *decoder) audioEdge(n *yaml.Node, path, goPath string, index map[string]int, names []string) (AudioEdge, bool) {
	v := d.deref(n)
	if v == nil {
		return AudioEdge{}, false
	}
	d.mark(goPath, v)
	if v.Kind == yaml.ScalarNode {
		s, ok := d.str(v, path)
		if !ok {
			return AudioEdge{}, false
		}
		from, to, found := strings.Cut(s, "->")
		if !found || strings.Contains(to, "->") {
			d.fail(v, path, "write from -> to, such as osc:0 -> mix:1", "%q is not an edge", s)
			return AudioEdge{}, false
		}
		e := AudioEdge{}
		var okFrom, okTo bool
		e.From, okFrom = d.portText(v, path, goPath+".From", strings.TrimSpace(from), index, names)
		e.To, okTo = d.portText(v, path, goPath+".To", strings.TrimSpace(to), index, names)
		return e, okFrom && okTo
	}
	m := d.mapping(v, path, "an edge: osc:0 -> mix:1, or {from: osc:0, to: mix:1}", audioEdgeKeys)
	if m == nil {
		return AudioEdge{}, false
	}
	var e AudioEdge
	ok := true
	for _, end := range []struct {
		key, field string
		port       *AudioPort
	}{{"from", "From", &e.From}, {"to", "To", &e.To}} {
		pv := m.get(end.key)
		if pv == nil {
			d.fail(m.node, path, "", "missing '%s'", end.key)
			ok = false
			continue
		}
		p, good := d.port(pv, joinPath(path, end.key), goPath+"."+end.field, index, names)
		*end.port, ok = p, ok && good
	}
	return e, ok
}

// port decodes a port: "node:port", "node" (port 0), or {node, port}.
func (d *decoder) port(n *yaml.Node, path, goPath string, index map[string]int, names []string) (AudioPort, bool) {
	v := d.deref(n)
	if v == nil {
		return AudioPort{}, false
	}
	if v.Kind == yaml.ScalarNode {
		s, ok := d.str(v, path)
		if !ok {
			return AudioPort{}, false
		}
		return d.portText(v, path, goPath, s, index, names)
	}
	m := d.mapping(v, path, "a port: osc:0, or {node: osc, port: 0}", audioPortKeys)
	if m == nil {
		return AudioPort{}, false
	}
	var p AudioPort
	ok := true
	if nv := m.get("node"); nv != nil {
		d.mark(goPath+".Node", nv)
		if s, good := d.str(nv, joinPath(path, "node")); good {
			p.Node = s
			ok = d.knownNode(nv, joinPath(path, "node"), s, index, names) && ok
		} else {
			ok = false
		}
	} else {
		d.fail(m.node, path, "", "missing 'node'")
		ok = false
	}
	if pv := m.get("port"); pv != nil {
		d.mark(goPath+".Port", pv)
		if i, good := d.integer(pv, joinPath(path, "port")); good {
			if i < 0 || i > 1<<20 {
				d.fail(pv, joinPath(path, "port"), "ports count from 0", "%d is out of range", i)
				ok = false
			}
			p.Port = int(i)
		} else {
			ok = false
		}
	}
	return p, ok
}

// portText parses "node:port" or "node", written at n.
func (d *decoder) portText(n *yaml.Node, path, goPath, s string, index map[string]int, names []string) (AudioPort, bool) {
	d.mark(goPath+".Node", n)
	d.mark(goPath+".Port", n)
	name, num := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		name, num = s[:i], s[i+1:]
	}
	var p AudioPort
	if name == "" {
		d.fail(n, path, "write node:port, such as osc:0", "%q names no node", s)
		return p, false
	}
	p.Node = name
	if num != "" || strings.HasSuffix(s, ":") {
		i, err := strconv.Atoi(num)
		if err != nil || i < 0 || i > 1<<20 {
			d.fail(n, path, "ports count from 0, such as "+name+":0", "%q: '%s' is not a port number", s, num)
			return p, false
		}
		p.Port = i
	}
	return p, d.knownNode(n, path, name, index, names)
}

// knownNode reports a port naming a node the graph does not declare.
func (d *decoder) knownNode(n *yaml.Node, path, name string, index map[string]int, names []string) bool {
	if _, ok := index[name]; ok {
		return true
	}
	hint := ""
	if c := closest(name, names); c != "" {
		hint = "did you mean '" + c + "'?"
	} else if len(names) > 0 {
		hint = "nodes: " + strings.Join(names, ", ")
	}
	d.fail(n, path, hint, "no node '%s' in the graph", name)
	return false
}

// audioOutput decodes output: a WAV path, or {path, ports}.
func (d *decoder) audioOutput(n *yaml.Node, path, goPath string, index map[string]int, names []string) AudioOutput {
	var out AudioOutput
	v := d.deref(n)
	if v == nil {
		return out
	}
	d.mark(goPath, v)
	wav := func(pn *yaml.Node, ppath string) {
		d.mark(goPath+".Path", pn)
		if s, ok := d.str(pn, ppath); ok {
			if s == "" {
				d.fail(pn, ppath, "", "empty path")
				return
			}
			out.Path = resolvePath(d.base, s)
		}
	}
	if v.Kind == yaml.ScalarNode {
		wav(v, path)
		return out
	}
	m := d.mapping(v, path, "output: out.wav, or output: {path: out.wav, ports: [mix:0]}", audioOutputKeys)
	if m == nil {
		return out
	}
	if pn := m.get("path"); pn != nil {
		wav(pn, joinPath(path, "path"))
	} else {
		d.fail(m.node, path, "such as path: out.wav", "missing 'path'")
	}
	if pv := m.get("ports"); pv != nil {
		d.mark(goPath+".Ports", pv)
		list := d.deref(pv)
		switch {
		case list == nil:
		case list.Kind != yaml.SequenceNode:
			d.fail(list, joinPath(path, "ports"), "ports: [mix:0]", "want a list of ports, got %s", describe(list))
		default:
			for i, item := range list.Content {
				p, ok := d.port(item, fmt.Sprintf("%s[%d]", joinPath(path, "ports"), i), fmt.Sprintf("%s.Ports[%d]", goPath, i), index, names)
				if ok {
					out.Ports = append(out.Ports, p)
				}
			}
		}
	}
	return out
}

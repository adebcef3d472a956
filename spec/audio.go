package spec

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/understudy/understudy/audio"
	"github.com/understudy/understudy/procbridge"
)

// The file's defaults for its audio section, and its bound on the length
// of a render. What the graph and the engine accept is audio's to say
// (audio.Config.Validate).
const (
	defaultAudioRate     = 48000
	defaultAudioBlock    = 128
	defaultAudioDuration = time.Second
	defaultAudioStandby  = 1
	defaultAudioSlack    = 1
	maxAudioDuration     = 10 * time.Minute
)

var (
	audioKeys       = []string{"rate", "block_size", "slack", "duration", "standby", "nodes", "edges", "output"}
	audioNodeKeys   = []string{"name", "kind", "params", "process", "path"}
	audioEdgeKeys   = []string{"from", "to"}
	audioPortKeys   = []string{"node", "port"}
	audioOutputKeys = []string{"path", "ports"}
)

// The Go field path of the audio section's Config, for positions.
const audioGo = "Audio.Config"

// audio decodes the audio section straight into an audio.Config and, when
// the section decoded without a problem, checks it with
// audio.Config.Validate, placing each problem at its key.
func (d *decoder) audio(n *yaml.Node, path string) *Audio {
	a := &Audio{Duration: defaultAudioDuration}
	cfg := &a.Config
	cfg.Graph = audio.Graph{Rate: defaultAudioRate, BlockSize: defaultAudioBlock}
	cfg.Slack, cfg.Spares = defaultAudioSlack, defaultAudioStandby
	m := d.mapping(n, path, "audio: {rate: 48000, block_size: 128, nodes: [...], edges: [...], output: out.wav}", audioKeys)
	if m == nil {
		return a
	}
	d.mark("Audio", m.node)
	d.mark(audioGo, m.node)
	key := func(k string) string { return joinPath(path, k) }
	if v := m.get("rate"); v != nil {
		d.mark(audioGo+".Graph.Rate", v)
		if r, ok := d.integer(v, key("rate")); ok {
			cfg.Graph.Rate = clampInt(r)
		}
	}
	if v := m.get("block_size"); v != nil {
		d.mark(audioGo+".Graph.BlockSize", v)
		if b, ok := d.integer(v, key("block_size")); ok {
			cfg.Graph.BlockSize = clampInt(b)
		}
	}
	if v := m.get("slack"); v != nil {
		d.mark(audioGo+".Slack", v)
		if n, ok := d.integer(v, key("slack")); ok {
			switch {
			case n < 0:
				d.fail(v, key("slack"), "the slack counts blocks of output latency; 0 is none", "%d must not be negative", n)
			case n == 0:
				cfg.Slack = audio.NoSlack
			default:
				cfg.Slack = clampInt(n)
			}
		}
	}
	if v := m.get("duration"); v != nil {
		d.mark("Audio.Duration", v)
		if t, ok := d.duration(v, key("duration")); ok {
			if t <= 0 || t > maxAudioDuration {
				d.fail(v, key("duration"), "", "%s is out of range: want above 0, up to %s", formatDuration(t), formatDuration(maxAudioDuration))
			} else {
				a.Duration = t
			}
		}
	}
	if v := m.get("standby"); v != nil {
		d.mark(audioGo+".Spares", v)
		if n, ok := d.integer(v, key("standby")); ok {
			if n < 1 {
				d.fail(v, key("standby"), "every node of a graph has at least one spare", "%d must be at least 1", n)
			} else {
				cfg.Spares = clampInt(n)
			}
		}
	}
	if v := m.get("nodes"); v != nil {
		d.mark(audioGo+".Graph.Nodes", v)
		list := d.deref(v)
		switch {
		case list == nil:
		case list.Kind != yaml.SequenceNode:
			d.fail(list, key("nodes"), "", "want a list of nodes, got %s", describe(list))
		default:
			for i, item := range list.Content {
				node := d.audioNode(item, fmt.Sprintf("%s[%d]", key("nodes"), i), fmt.Sprintf("%s.Graph.Nodes[%d]", audioGo, i))
				cfg.Graph.Nodes = append(cfg.Graph.Nodes, node)
			}
		}
	}
	if len(cfg.Graph.Nodes) == 0 {
		at := m.node
		if v := m.get("nodes"); v != nil {
			at = d.deref(v)
		}
		d.fail(at, key("nodes"), "nodes: [{name: osc, kind: sine, params: {freq: 440}}]", "an audio graph needs at least one node")
	}
	if v := m.get("edges"); v != nil {
		d.mark(audioGo+".Graph.Edges", v)
		list := d.deref(v)
		switch {
		case list == nil:
		case list.Kind != yaml.SequenceNode:
			d.fail(list, key("edges"), "", "want a list of edges, got %s", describe(list))
		default:
			for i, item := range list.Content {
				// One edge per item, decoded or not, so that indices
				// match the file's.
				e, _ := d.audioEdge(item, fmt.Sprintf("%s[%d]", key("edges"), i), fmt.Sprintf("%s.Graph.Edges[%d]", audioGo, i))
				cfg.Graph.Edges = append(cfg.Graph.Edges, e)
			}
		}
	}
	if v := m.get("output"); v != nil {
		d.audioOutput(v, key("output"), cfg)
	}
	return a
}

// checkAudio checks the audio section with audio.Config.Validate and
// places each problem at its key. After problems of decoding (partial),
// it keeps only those at a key written in the file where no problem was
// found yet: the rest would follow from what could not be decoded.
func (d *decoder) checkAudio(f *File, partial bool) {
	if f.Audio == nil {
		return
	}
	cfg := &f.Audio.Config
	listed := len(cfg.Sink) > 0
	if !listed {
		cfg.Sink = cfg.Graph.Outputs()
	}
	for _, e := range unjoin(cfg.Validate()) {
		if e != nil {
			d.place(d.audioError(e, listed, cfg.Graph), partial)
		}
	}
}

// place records e, a problem found by an owner's Validate: after problems
// of decoding (partial), only when its field was written in the file and no
// problem is already reported there or at a key that holds it.
func (d *decoder) place(e *placed, partial bool) {
	if len(d.errs) >= maxErrors {
		d.more++
		return
	}
	if partial {
		if !e.exact {
			return
		}
		for _, old := range d.errs {
			if old.Line == e.Line && old.Column == e.Column || within(e.Path, old.Path) || within(old.Path, e.Path) {
				return
			}
		}
	}
	d.errs = append(d.errs, e.Error)
}

// within reports whether path is inner or inside it ("children[0].heartbeat"
// holds "children[0].heartbeat.interval").
func within(inner, path string) bool {
	if path == "" {
		return false
	}
	rest, ok := strings.CutPrefix(inner, path)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// placed is an *Error and whether its position is its field's own.
type placed struct {
	*Error
	exact bool
}

// clampInt returns n as an int, saturated: a value out of every range
// still reads as out of range.
func clampInt(n int64) int {
	return int(max(min(n, 1<<40), -1<<40))
}

// audioError places a problem audio.Config.Validate found at the key of the
// file it is about, with a hint where one helps. listed says whether the
// file lists the output ports.
func (d *decoder) audioError(err error, listed bool, g audio.Graph) *placed {
	var se *procbridge.SpecError
	if !errors.As(err, &se) {
		p := d.pos["Audio"]
		return &placed{&Error{File: d.name, Line: p.Line, Column: p.Column, Path: "audio", Msg: err.Error()}, false}
	}
	field, path := audioGo+"."+se.Field, audioPath(se.Field)
	value, _ := strconv.Unquote(se.Value)
	msg, hint := se.Reason, ""
	if se.Value != "" {
		msg = se.Value + ": " + se.Reason
	}
	switch {
	case se.Field == "Graph.Edges":
		cycle, _ := strings.CutPrefix(se.Reason, "a cycle: ")
		msg, hint = "the edges form a cycle: "+cycle, "an audio graph flows one way: remove an edge of the cycle"
	case se.Field == "Sink" && !listed:
		field, path = audioGo+".Sink", "audio.output"
		msg, hint = "every output port feeds an edge: nothing is left to write", "list them: output: {path: out.wav, ports: [mix:0]}"
	case strings.HasSuffix(se.Field, ".Kind") && strings.Contains(se.Reason, "not registered"):
		msg, hint = fmt.Sprintf("unknown kind '%s'", value), suggest(value, knownKinds(se.Reason), "known: ")
	case strings.HasSuffix(se.Field, ".Node") && se.Reason == "no such node":
		var names []string
		for _, n := range g.Nodes {
			if n.Name != "" && !slices.Contains(names, n.Name) {
				names = append(names, n.Name)
			}
		}
		msg, hint = fmt.Sprintf("no node '%s' in the graph", value), suggest(value, names, "nodes: ")
	}
	msg = strings.NewReplacer("Nodes[", "nodes[", "Edges[", "edges[").Replace(msg)
	_, exact := d.pos[field]
	p, _ := (&File{pos: d.pos}).position(field)
	return &placed{&Error{File: d.name, Line: p.Line, Column: p.Column, Path: path, Msg: msg, Hint: hint}, exact}
}

// audioPath turns a field of an audio.Config ("Graph.Nodes[2].Params[\"freq\"]",
// "Sink[0].Port") into the file's own path ("audio.nodes[2].params.freq",
// "audio.output.ports[0]").
func audioPath(field string) string {
	if rest, ok := strings.CutPrefix(field, "Sink"); ok {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			rest = rest[:i+1]
		}
		return "audio.output.ports" + rest
	}
	field = strings.TrimPrefix(field, "Graph.")
	r := strings.NewReplacer("Nodes", "nodes", "Edges", "edges", "Params", "params", "Kind", "kind", "Name", "name",
		"From", "from", "To", "to", "Port", "port", "Node", "node", "Rate", "rate", "BlockSize", "block_size", "Process", "process", "Path", "path",
		"Slack", "slack", "Spares", "standby", "WAV", "output.path", "[\"", ".", "\"]", "")
	return "audio." + r.Replace(field)
}

// audioNode decodes one node.
func (d *decoder) audioNode(n *yaml.Node, path, goPath string) audio.Node {
	var node audio.Node
	m := d.mapping(n, path, "a node: {name: osc, kind: sine, params: {freq: 440}}", audioNodeKeys)
	if m == nil {
		return node
	}
	d.mark(goPath, m.node)
	if v := m.get("process"); v != nil {
		d.mark(goPath+".Process", v)
		if s, ok := d.str(v, joinPath(path, "process")); ok {
			if s == "" {
				d.fail(v, joinPath(path, "process"), "leave it out to run the node in a process of its own", "empty process")
			}
			node.Process = s
		}
	}
	if v := m.get("path"); v != nil {
		d.mark(goPath+".Path", v)
		if s, ok := d.str(v, joinPath(path, "path")); ok {
			if s == "" {
				d.fail(v, joinPath(path, "path"), "the executable that serves a node of kind exec, such as path: ./biquad", "empty path")
			}
			node.Path = resolvePath(d.base, s)
		}
	}
	if v := m.get("name"); v != nil {
		d.mark(goPath+".Name", v)
		node.Name, _ = d.str(v, joinPath(path, "name"))
	} else {
		d.fail(m.node, path, "", "missing 'name'")
	}
	if v := m.get("kind"); v != nil {
		d.mark(goPath+".Kind", v)
		node.Kind, _ = d.str(v, joinPath(path, "kind"))
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
			node.Params = audio.Params{}
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
	return node
}

// audioEdge decodes an edge: "from -> to", or {from: PORT, to: PORT}.
func (d *decoder) audioEdge(n *yaml.Node, path, goPath string) (audio.Edge, bool) {
	v := d.deref(n)
	if v == nil {
		return audio.Edge{}, false
	}
	d.mark(goPath, v)
	if v.Kind == yaml.ScalarNode {
		s, ok := d.str(v, path)
		if !ok {
			return audio.Edge{}, false
		}
		from, to, found := strings.Cut(s, "->")
		if !found || strings.Contains(to, "->") {
			d.fail(v, path, "write from -> to, such as osc:0 -> mix:1", "%q is not an edge", s)
			return audio.Edge{}, false
		}
		var e audio.Edge
		var okFrom, okTo bool
		e.From, okFrom = d.portText(v, path, goPath+".From", strings.TrimSpace(from))
		e.To, okTo = d.portText(v, path, goPath+".To", strings.TrimSpace(to))
		return e, okFrom && okTo
	}
	m := d.mapping(v, path, "an edge: osc:0 -> mix:1, or {from: osc:0, to: mix:1}", audioEdgeKeys)
	if m == nil {
		return audio.Edge{}, false
	}
	var e audio.Edge
	ok := true
	for _, end := range []struct {
		key, field string
		port       *audio.Port
	}{{"from", "From", &e.From}, {"to", "To", &e.To}} {
		pv := m.get(end.key)
		if pv == nil {
			d.fail(m.node, path, "", "missing '%s'", end.key)
			ok = false
			continue
		}
		p, good := d.port(pv, joinPath(path, end.key), goPath+"."+end.field)
		*end.port, ok = p, ok && good
	}
	return e, ok
}

// port decodes a port: "node:port", "node" (port 0), or {node, port}.
func (d *decoder) port(n *yaml.Node, path, goPath string) (audio.Port, bool) {
	v := d.deref(n)
	if v == nil {
		return audio.Port{}, false
	}
	if v.Kind == yaml.ScalarNode {
		s, ok := d.str(v, path)
		if !ok {
			return audio.Port{}, false
		}
		return d.portText(v, path, goPath, s)
	}
	d.mark(goPath, v)
	m := d.mapping(v, path, "a port: osc:0, or {node: osc, port: 0}", audioPortKeys)
	if m == nil {
		return audio.Port{}, false
	}
	var p audio.Port
	ok := true
	if nv := m.get("node"); nv != nil {
		d.mark(goPath+".Node", nv)
		p.Node, ok = d.str(nv, joinPath(path, "node"))
	} else {
		d.fail(m.node, path, "", "missing 'node'")
		ok = false
	}
	if pv := m.get("port"); pv != nil {
		d.mark(goPath+".Port", pv)
		i, good := d.integer(pv, joinPath(path, "port"))
		p.Port, ok = clampInt(i), ok && good
	}
	return p, ok
}

// portText parses "node:port" or "node", written at n.
func (d *decoder) portText(n *yaml.Node, path, goPath, s string) (audio.Port, bool) {
	d.mark(goPath, n)
	d.mark(goPath+".Node", n)
	d.mark(goPath+".Port", n)
	name, num := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		name, num = s[:i], s[i+1:]
	}
	p := audio.Port{Node: name}
	if name == "" {
		d.fail(n, path, "write node:port, such as osc:0", "%q names no node", s)
		return p, false
	}
	if num != "" || strings.HasSuffix(s, ":") {
		i, err := strconv.Atoi(num)
		if err != nil || i < 0 {
			d.fail(n, path, "ports count from 0, such as "+name+":0", "%q: '%s' is not a port number", s, num)
			return p, false
		}
		p.Port = i
	}
	return p, true
}

// audioOutput decodes output: a WAV path, or {path, ports}.
func (d *decoder) audioOutput(n *yaml.Node, path string, cfg *audio.Config) {
	v := d.deref(n)
	if v == nil {
		return
	}
	d.mark(audioGo+".Sink", v)
	wav := func(pn *yaml.Node, ppath string) {
		d.mark(audioGo+".WAV", pn)
		if s, ok := d.str(pn, ppath); ok {
			if s == "" {
				d.fail(pn, ppath, "", "empty path")
				return
			}
			cfg.WAV = resolvePath(d.base, s)
		}
	}
	if v.Kind == yaml.ScalarNode {
		wav(v, path)
		return
	}
	m := d.mapping(v, path, "output: out.wav, or output: {path: out.wav, ports: [mix:0]}", audioOutputKeys)
	if m == nil {
		return
	}
	if pn := m.get("path"); pn != nil {
		wav(pn, joinPath(path, "path"))
	} else {
		d.fail(m.node, path, "such as path: out.wav", "missing 'path'")
	}
	if pv := m.get("ports"); pv != nil {
		d.mark(audioGo+".Sink", pv)
		list := d.deref(pv)
		switch {
		case list == nil:
		case list.Kind != yaml.SequenceNode:
			d.fail(list, joinPath(path, "ports"), "ports: [mix:0]", "want a list of ports, got %s", describe(list))
		default:
			for i, item := range list.Content {
				p, _ := d.port(item, fmt.Sprintf("%s[%d]", joinPath(path, "ports"), i), fmt.Sprintf("%s.Sink[%d]", audioGo, i))
				cfg.Sink = append(cfg.Sink, p)
			}
		}
	}
}

// knownKinds returns the kinds a "not registered (known: a, b)" reason
// from audio.Graph.Validate lists, for a suggestion.
func knownKinds(reason string) []string {
	_, list, ok := strings.Cut(reason, "(known: ")
	list, _, _ = strings.Cut(list, ")")
	if !ok || list == "none" {
		return nil
	}
	return strings.Split(list, ", ")
}

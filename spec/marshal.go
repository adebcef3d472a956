package spec

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/understudy/understudy/audio"
	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// Marshal writes f as a spec file: its root's name, its tree, the
// instances of its simple_one_for_one supervisors and its audio graph, so
// that Parse gives back an equal File (reflect.DeepEqual of Name, Tree,
// Instances and Audio). Relative paths come back absolute, taken relative
// to the directory of the file parsed.
//
// Fields the file format does not have are errors, each naming the field:
// a process's ExtraFiles, a Writer output other than an output file the
// loader made, a Name other than the child's, and StopGrace (write the
// grace in the child's Shutdown, which supervision uses in its place); in
// the audio section, what audio.Config holds beyond the graph, its sink,
// WAV, Slack and Spares. Values no spec can hold (an unknown Strategy, an
// Env entry without '=') are errors too. A Backoff with a negative Initial
// (no backoff) is written as none and comes back as Backoff{Initial: -1}:
// its other fields have no effect.
func Marshal(f *File) ([]byte, error) {
	e := &encoder{instances: map[string][][]string{}}
	for _, in := range f.Instances {
		key := strings.Join(in.Supervisor, "/")
		e.instances[key] = append(e.instances[key], in.Args)
	}
	root := mapNode()
	root.HeadComment = "understudy spec file: see docs/spec-reference.md"
	if f.Name != "" {
		addKey(root, "name", str(f.Name))
	}
	if f.Tree != nil {
		e.supervisor(root, f.Tree, "Tree", nil)
	}
	if f.Audio != nil {
		addKey(root, "audio", e.audio(f.Audio))
	}
	if cl := f.Cluster; cl.Listen != "" || cl.Lease != 0 || len(cl.Nodes) > 0 {
		cm := mapNode()
		if cl.Listen != "" {
			addKey(cm, "listen", str(cl.Listen))
		}
		if cl.Lease != 0 {
			addKey(cm, "lease", str(formatDuration(cl.Lease)))
		}
		nodes := mapNode()
		for _, n := range slices.Sorted(maps.Keys(cl.Nodes)) {
			addKey(nodes, n, str(cl.Nodes[n]))
		}
		addKey(cm, "nodes", nodes)
		addKey(root, "cluster", cm)
	}
	if len(e.errs) > 0 {
		return nil, errors.Join(e.errs...)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("spec: marshal: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("spec: marshal: %w", err)
	}
	return buf.Bytes(), nil
}

type encoder struct {
	errs      []error
	instances map[string][][]string // by the supervisor's path of names
}

func (e *encoder) bad(field, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("spec: marshal: %s: %s: %w", field, fmt.Sprintf(format, args...), supervision.ErrInvalid))
}

func mapNode() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func flowMap() *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
}

func seqNode(flow bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	if flow {
		n.Style = yaml.FlowStyle
	}
	return n
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func intNode(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

// floatNode writes f as a number, without a tag: a whole f reads back as
// a YAML integer, which the loader takes wherever a number goes.
func floatNode(f float64) *yaml.Node {
	tag := "!!float"
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		tag = "!!int"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: strconv.FormatFloat(f, 'f', -1, 64)}
}

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func addKey(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, str(key), v)
}

func sizeNode(n int) *yaml.Node {
	if s := formatSize(int64(n)); strings.HasSuffix(s, "B") {
		return str(s)
	}
	return intNode(n)
}

// supervisor writes the keys of s into m. names is the path of child names
// to it, for its instances.
func (e *encoder) supervisor(m *yaml.Node, s *supervision.Spec, goPath string, names []string) {
	if !valid(s.Strategy, strategies) {
		e.bad(joinGo(goPath, "Strategy"), "unknown strategy %q", s.Strategy)
	}
	addKey(m, "strategy", str(string(orDefault(s.Strategy, strategies))))
	if in := s.Intensity; in != (supervision.Intensity{}) {
		im := flowMap()
		switch {
		case in.MaxRestarts == supervision.NoRestarts:
			addKey(im, "max_restarts", intNode(0))
		case in.MaxRestarts > 0:
			addKey(im, "max_restarts", intNode(in.MaxRestarts))
		case in.MaxRestarts < supervision.NoRestarts:
			e.bad(joinGo(goPath, "Intensity.MaxRestarts"), "%d: want >= 0, or NoRestarts", in.MaxRestarts)
		}
		if in.Period != 0 {
			addKey(im, "period", str(formatDuration(in.Period)))
		} else if in.MaxRestarts > 0 {
			e.bad(joinGo(goPath, "Intensity.Period"), "0 with MaxRestarts set")
		}
		addKey(m, "intensity", im)
	}
	if a := orDefault(s.AutoShutdown, autoShutdowns); a != supervision.Never {
		if !valid(s.AutoShutdown, autoShutdowns) {
			e.bad(joinGo(goPath, "AutoShutdown"), "unknown auto shutdown %q", s.AutoShutdown)
		}
		addKey(m, "auto_shutdown", str(string(a)))
	}
	if s.Strategy == supervision.SimpleOneForOne && len(s.Children) == 1 {
		addKey(m, "template", e.child(&s.Children[0], joinGo(goPath, "Children[0]"), names))
		if args, ok := e.instances[strings.Join(names, "/")]; ok {
			addKey(m, "instances", instancesNode(args))
		}
		return
	}
	list := seqNode(false)
	for i := range s.Children {
		list.Content = append(list.Content, e.child(&s.Children[i], fmt.Sprintf("%s[%d]", joinGo(goPath, "Children"), i), names))
	}
	addKey(m, "children", list)
}

func instancesNode(all [][]string) *yaml.Node {
	if !slices.ContainsFunc(all, func(a []string) bool { return len(a) > 0 }) {
		return intNode(len(all))
	}
	list := seqNode(false)
	for _, args := range all {
		l := seqNode(true)
		for _, a := range args {
			l.Content = append(l.Content, str(a))
		}
		list.Content = append(list.Content, l)
	}
	return list
}

// child writes one child.
// placement adds the nodes a child runs on, and its takeover.
func placement(m *yaml.Node, c *supervision.ChildSpec) {
	if len(c.Nodes) > 0 {
		nodes := seqNode(true)
		for _, n := range c.Nodes {
			nodes.Content = append(nodes.Content, str(n))
		}
		addKey(m, "nodes", nodes)
	}
	if c.Takeover {
		addKey(m, "takeover", boolNode(true))
	}
}

func (e *encoder) child(c *supervision.ChildSpec, goPath string, names []string) *yaml.Node {
	m := mapNode()
	addKey(m, "name", str(c.Name))
	switch {
	case c.Process != nil && c.Supervisor != nil:
		e.bad(goPath+".Supervisor", "Process is set too; set exactly one")
	case c.Process != nil:
		e.process(m, c, goPath+".Process")
	case c.Supervisor == nil:
		e.bad(goPath+".Process", "nil: set Process or Supervisor")
	}
	if r := orDefault(c.Restart, restarts); r != supervision.Permanent {
		if !valid(c.Restart, restarts) {
			e.bad(goPath+".Restart", "unknown restart %q", c.Restart)
		}
		addKey(m, "restart", str(string(r)))
	}
	switch sd := c.Shutdown; {
	case sd == supervision.BrutalKill:
		addKey(m, "shutdown", str("brutal_kill"))
	case sd == supervision.Infinity:
		addKey(m, "shutdown", str("infinity"))
	case sd > 0:
		addKey(m, "shutdown", str(formatDuration(sd)))
	case sd < 0:
		e.bad(goPath+".Shutdown", "%v: a negative grace period", sd)
	}
	if c.Significant {
		addKey(m, "significant", boolNode(true))
	}
	if b := backoffNode(c.Backoff); b != nil {
		addKey(m, "backoff", b)
	}
	if c.Supervisor != nil && c.Process == nil {
		placement(m, c)
		sm := mapNode()
		e.supervisor(sm, c.Supervisor, goPath+".Supervisor", append(slices.Clone(names), c.Name))
		addKey(m, "supervisor", sm)
	}
	return m
}

func backoffNode(b supervision.Backoff) *yaml.Node {
	if b.Initial < 0 {
		return str("none")
	}
	if b == (supervision.Backoff{}) {
		return nil
	}
	m := flowMap()
	if b.Initial != 0 {
		addKey(m, "initial", str(formatDuration(b.Initial)))
	}
	if b.Max != 0 {
		addKey(m, "max", str(formatDuration(b.Max)))
	}
	if b.Multiplier != 0 {
		addKey(m, "multiplier", floatNode(b.Multiplier))
	}
	if b.Jitter != 0 {
		addKey(m, "jitter", floatNode(b.Jitter))
	}
	if b.ResetAfter != 0 {
		addKey(m, "reset_after", str(formatDuration(b.ResetAfter)))
	}
	return m
}

// process writes the process keys of child c.
func (e *encoder) process(m *yaml.Node, c *supervision.ChildSpec, goPath string) {
	p := c.Process
	switch {
	case p.Path != "" && p.Worker != "":
		e.bad(goPath+".Worker", "Path is set too; set exactly one")
	case p.Path != "":
		addKey(m, "command", str(p.Path))
	case p.Worker != "":
		addKey(m, "worker", str(p.Worker))
	default:
		e.bad(goPath+".Path", "empty: set Path or Worker")
	}
	if len(p.Args) > 0 {
		l := seqNode(true)
		for _, a := range p.Args {
			l.Content = append(l.Content, str(a))
		}
		addKey(m, "args", l)
	}
	if p.Env != nil {
		addKey(m, "clear_env", boolNode(true))
		env := mapNode()
		seen := map[string]bool{}
		for i, kv := range p.Env {
			k, v, ok := strings.Cut(kv, "=")
			switch {
			case !ok || k == "":
				e.bad(fmt.Sprintf("%s.Env[%d]", goPath, i), "%q is not NAME=value", kv)
				continue
			case seen[k]:
				e.bad(fmt.Sprintf("%s.Env[%d]", goPath, i), "%s is set twice", k)
				continue
			}
			seen[k] = true
			addKey(env, k, str(v))
		}
		if len(env.Content) > 0 {
			addKey(m, "env", env)
		}
	}
	if p.Dir != "" {
		addKey(m, "dir", str(p.Dir))
	}
	if p.SDK {
		addKey(m, "sdk", boolNode(true))
	}
	if p.Notify {
		addKey(m, "notify", boolNode(true))
	}
	if p.NotificationFD != 0 {
		addKey(m, "notification_fd", intNode(p.NotificationFD))
	}
	for _, o := range []struct {
		key, field string
		out        procbridge.Output
	}{{"stdout", "Stdout", p.Stdout}, {"stderr", "Stderr", p.Stderr}} {
		switch {
		case o.out == procbridge.Output{}:
		case o.out == procbridge.Discard:
			addKey(m, o.key, str("discard"))
		case o.out == procbridge.Lines:
			addKey(m, o.key, str("lines"))
		default:
			fo, ok := hooks.OutputWriter(o.out).(*fileOutput)
			if !ok || fo.Path == "" {
				e.bad(goPath+"."+o.field, "a writer to a %T is not in the file format (only an output file a spec file declared)", hooks.OutputWriter(o.out))
				continue
			}
			path := fo.Path
			if !strings.ContainsRune(path, '/') {
				path = "./" + path
			}
			if fo.MaxSize == 0 {
				addKey(m, o.key, str(path))
				continue
			}
			r := flowMap()
			addKey(r, "path", str(path))
			addKey(r, "max_size", sizeNode(int(fo.MaxSize)))
			addKey(r, "max_files", intNode(fo.MaxFiles))
			addKey(m, o.key, r)
		}
	}
	if p.ReadyTimeout != 0 {
		addKey(m, "ready_timeout", str(formatDuration(p.ReadyTimeout)))
	}
	if hb := p.Heartbeat; hb != (procbridge.Heartbeat{}) {
		h := flowMap()
		addKey(h, "interval", str(formatDuration(hb.Interval)))
		addKey(h, "timeout", str(formatDuration(hb.Timeout)))
		addKey(m, "heartbeat", h)
	}
	if p.StateSize != 0 {
		addKey(m, "state_size", sizeNode(p.StateSize))
	}
	if p.RingSize != 0 {
		addKey(m, "ring_size", sizeNode(p.RingSize))
	}
	if p.MemoryMax != 0 {
		addKey(m, "memory_max", sizeNode(int(p.MemoryMax)))
	}
	if p.CPUMax != 0 {
		addKey(m, "cpu_max", floatNode(p.CPUMax))
	}
	if p.PidsMax != 0 {
		addKey(m, "pids_max", intNode(p.PidsMax))
	}
	if n := c.Standby; n != 0 {
		addKey(m, "standby", intNode(n))
	}
	placement(m, c)
	if p.Name != "" && p.Name != c.Name {
		e.bad(goPath+".Name", "%q: not in the file format (the child's name names its process)", p.Name)
	}
	if p.StopGrace != 0 {
		e.bad(goPath+".StopGrace", "not in the file format: set the child's Shutdown, which supervision uses in its place")
	}
	if len(p.ExtraFiles) > 0 {
		e.bad(goPath+".ExtraFiles", "open files are not in the file format")
	}
}

// audio writes the audio section.
func (e *encoder) audio(a *Audio) *yaml.Node {
	c := &a.Config
	g := &c.Graph
	m := mapNode()
	addKey(m, "rate", intNode(g.Rate))
	addKey(m, "block_size", intNode(g.BlockSize))
	switch c.Slack {
	case audio.NoSlack:
		addKey(m, "slack", intNode(0))
	case 0:
		addKey(m, "slack", intNode(defaultAudioSlack))
	default:
		addKey(m, "slack", intNode(c.Slack))
	}
	addKey(m, "standby", intNode(max(c.Spares, defaultAudioStandby)))
	if a.Duration > 0 {
		addKey(m, "duration", str(formatDuration(a.Duration)))
	}
	nodes := seqNode(false)
	for _, n := range g.Nodes {
		nm := mapNode()
		addKey(nm, "name", str(n.Name))
		addKey(nm, "kind", str(n.Kind))
		if n.Process != "" {
			addKey(nm, "process", str(n.Process))
		}
		if n.Path != "" {
			addKey(nm, "path", str(n.Path))
		}
		if len(n.Params) > 0 {
			pm := flowMap()
			keys := make([]string, 0, len(n.Params))
			for k := range n.Params {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				addKey(pm, k, floatNode(n.Params[k]))
			}
			addKey(nm, "params", pm)
		}
		nodes.Content = append(nodes.Content, nm)
	}
	addKey(m, "nodes", nodes)
	if len(g.Edges) > 0 {
		edges := seqNode(false)
		for _, ed := range g.Edges {
			edges.Content = append(edges.Content, str(portText(ed.From)+" -> "+portText(ed.To)))
		}
		addKey(m, "edges", edges)
	}
	listed := len(c.Sink) > 0 && !slices.Equal(c.Sink, g.Outputs())
	switch {
	case c.WAV == "" && listed:
		e.bad("Audio.Config.WAV", "empty, with Sink set to other ports than the graph's outputs")
	case listed:
		om := mapNode()
		addKey(om, "path", str(c.WAV))
		ports := seqNode(true)
		for _, p := range c.Sink {
			ports.Content = append(ports.Content, str(portText(p)))
		}
		addKey(om, "ports", ports)
		addKey(m, "output", om)
	case c.WAV != "":
		addKey(m, "output", str(c.WAV))
	}
	rest := *c
	rest.Graph, rest.Sink, rest.WAV, rest.Slack, rest.Spares = audio.Graph{}, nil, "", 0, 0
	if !reflect.DeepEqual(rest, audio.Config{}) {
		e.bad("Audio.Config", "only Graph, Sink, WAV, Slack and Spares are in the file format")
	}
	return m
}

// portText returns "node:port".
func portText(p audio.Port) string { return p.Node + ":" + strconv.Itoa(p.Port) }

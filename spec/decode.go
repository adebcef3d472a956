package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// Limits of the loader, against files that would take it too long.
const (
	maxNodeVisits = 200_000 // YAML nodes read, aliases expanded
	maxDepth      = 32      // nested supervisors
	maxInstances  = 10_000
	maxErrors     = 500 // reported; more are counted
)

// The keys of each kind of mapping, in the order the reference lists them.
var (
	supervisorKeys = []string{"strategy", "intensity", "auto_shutdown", "backoff", "children", "template", "instances"}
	fileKeys       = append([]string{"version", "name"}, append(slices.Clone(supervisorKeys), "audio", "cluster")...)
	clusterKeys    = []string{"listen", "lease", "nodes"}
	processKeys    = []string{"command", "worker", "args", "env", "clear_env", "dir", "sdk", "notify", "notification_fd", "stdout", "stderr",
		"ready_timeout", "heartbeat", "state_size", "ring_size", "memory_max", "cpu_max", "pids_max", "standby", "nodes", "takeover"}
	childKeys     = append(append([]string{"name"}, processKeys...), "restart", "shutdown", "significant", "backoff", "supervisor")
	intensityKeys = []string{"max_restarts", "period"}
	backoffKeys   = []string{"initial", "max", "multiplier", "jitter", "reset_after"}
	heartbeatKeys = []string{"interval", "timeout"}
)

// keyAliases maps names people reach for to the key this format uses.
var keyAliases = map[string]string{
	"cmd": "command", "exec": "command", "program": "command", "path": "command", "executable": "command",
	"argv": "args", "arguments": "args",
	"environment": "env",
	"cwd":         "dir", "workdir": "dir", "working_dir": "dir", "working_directory": "dir", "directory": "dir",
	"stop_grace": "shutdown", "grace": "shutdown", "kill_timeout": "shutdown",
	"restart_policy": "restart",
	"spares":         "standby", "standbys": "standby", "hot_standby": "standby",
	"sample_rate": "rate", "blocksize": "block_size", "block": "block_size",
	"max_restart": "max_restarts", "restarts": "max_restarts", "within": "period", "window": "period",
}

// keyHomes says where a key that is not allowed here belongs.
var keyHomes = map[string]string{
	"max_restarts": "it belongs in intensity: {max_restarts: 3, period: 5s}",
	"period":       "it belongs in intensity: {max_restarts: 3, period: 5s}",
	"interval":     "it belongs in heartbeat: {interval: 10ms, timeout: 100ms}",
	"timeout":      "it belongs in heartbeat: {interval: 10ms, timeout: 100ms}",
	"initial":      "it belongs in backoff: {initial: 100ms, max: 10s}",
	"multiplier":   "it belongs in backoff: {initial: 100ms, max: 10s}",
	"jitter":       "it belongs in backoff: {initial: 100ms, max: 10s}",
	"reset_after":  "it belongs in backoff: {initial: 100ms, max: 10s}",
}

type decoder struct {
	name    string
	base    string
	errs    []*Error
	pos     map[string]position
	visits  int
	stopped bool // the visit budget ran out
	more    int  // problems past maxErrors
}

func newDecoder(name string) *decoder {
	return &decoder{name: name, base: filepath.Dir(name), pos: map[string]position{}}
}

func (d *decoder) at(n *yaml.Node) position {
	if n == nil {
		return position{}
	}
	return position{Line: n.Line, Column: n.Column}
}

// errorAt returns an *Error at n.
func (d *decoder) errorAt(n *yaml.Node, path, hint, msg string) *Error {
	p := d.at(n)
	return &Error{File: d.name, Line: p.Line, Column: p.Column, Path: path, Msg: msg, Hint: hint}
}

// fail records a problem at n; past maxErrors it only counts it.
func (d *decoder) fail(n *yaml.Node, path, hint, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		d.more++
		return
	}
	d.errs = append(d.errs, d.errorAt(n, path, hint, fmt.Sprintf(format, args...)))
}

// mark records where the Go field goPath was written.
func (d *decoder) mark(goPath string, n *yaml.Node) {
	if n != nil {
		d.pos[goPath] = d.at(n)
	}
}

// deref follows aliases and counts the visit; nil when the budget is spent.
func (d *decoder) deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		return nil
	}
	d.visits++
	if d.visits > maxNodeVisits {
		if !d.stopped {
			d.stopped = true
			d.errs = append(d.errs, d.errorAt(n, "", "", fmt.Sprintf("too many YAML nodes (aliases expanded): more than %d", maxNodeVisits)))
		}
		return nil
	}
	return n
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinGo(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// describe names what n is, for "got ..." in type errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "an alias"
}

// fields is a mapping of the file, its keys checked.
type fields struct {
	node *yaml.Node
	path string
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node
}

func (m *fields) get(key string) *yaml.Node {
	if m == nil {
		return nil
	}
	return m.vals[key]
}

func (m *fields) has(key string) bool { return m.get(key) != nil }

// key returns the key node of key, for errors about the key itself.
func (m *fields) key(key string) *yaml.Node { return m.keys[key] }

// mapping checks that n is a mapping whose keys are among allowed (what
// names it in errors) and returns its fields; nil when n is no mapping.
// Merge keys (<<) are expanded; keys written in the mapping win.
func (d *decoder) mapping(n *yaml.Node, path, what string, allowed []string) *fields {
	return d.mappingExt(n, path, what, allowed, false)
}

// mappingExt is mapping; with ext, keys starting "x-" are allowed and
// ignored (the file's top holds them, for YAML anchors to refer to).
func (d *decoder) mappingExt(n *yaml.Node, path, what string, allowed []string, ext bool) *fields {
	n = d.deref(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, what, "want a mapping, got %s", describe(n))
		return nil
	}
	m := &fields{node: n, path: path, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "", "a key must be a name, not %s", describe(k))
			continue
		}
		name := k.Value
		kpath := joinPath(path, name)
		if first, dup := m.keys[name]; dup {
			d.fail(k, kpath, fmt.Sprintf("first at line %d", first.Line), "duplicate key '%s'", name)
			continue
		}
		if ext && strings.HasPrefix(name, "x-") {
			continue
		}
		if !slices.Contains(allowed, name) {
			d.fail(k, kpath, keyHint(name, allowed), "unknown key")
			continue
		}
		m.keys[name] = k
		m.vals[name] = v
	}
	for _, mv := range merges {
		d.merge(m, mv, path, what, allowed, 0)
	}
	return m
}

// merge adds the keys of a merged mapping (<<: *anchor) that m lacks.
func (d *decoder) merge(m *fields, v *yaml.Node, path, what string, allowed []string, depth int) {
	v = d.deref(v)
	if v == nil || depth > 8 {
		return
	}
	switch v.Kind {
	case yaml.SequenceNode:
		for _, e := range v.Content {
			d.merge(m, e, path, what, allowed, depth+1)
		}
	case yaml.MappingNode:
		inner := d.mapping(v, path, what, allowed)
		if inner == nil {
			return
		}
		for name, val := range inner.vals {
			if _, ok := m.keys[name]; !ok {
				m.keys[name] = inner.keys[name]
				m.vals[name] = val
			}
		}
	default:
		d.fail(v, path, "", "a merge (<<) takes a mapping or a list of mappings, got %s", describe(v))
	}
}

// keyHint guesses what an unknown key was meant to be.
func keyHint(name string, allowed []string) string {
	if alias, ok := keyAliases[strings.ToLower(name)]; ok && slices.Contains(allowed, alias) {
		return "did you mean '" + alias + "'?"
	}
	if s := closest(name, allowed); s != "" {
		return "did you mean '" + s + "'?"
	}
	if home, ok := keyHomes[name]; ok {
		return home
	}
	switch {
	case slices.Contains(supervisorKeys, name) && !slices.Contains(allowed, name):
		return "a nested supervisor's keys go under supervisor:"
	case slices.Contains(processKeys, name) && slices.Contains(allowed, "children"):
		return "it is a child's key: put it in an entry of children:"
	}
	return "want one of " + quoteList(allowed)
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, ", ")
}

// suggest returns a hint for s, a name that is not among candidates: the
// likely typo's fix ("did you mean 'sine'?"), else list followed by the
// candidates, or "" when there are none.
func suggest(s string, candidates []string, list string) string {
	if c := closest(s, candidates); c != "" {
		return "did you mean '" + c + "'?"
	}
	if len(candidates) == 0 {
		return ""
	}
	return list + strings.Join(candidates, ", ")
}

// closest returns the candidate nearest to s by edit distance, if near
// enough to be a likely typo, else "". Case, '-' and '_' are ignored.
func closest(s string, candidates []string) string {
	norm := func(x string) string { return strings.ToLower(strings.ReplaceAll(x, "-", "_")) }
	ns := norm(s)
	best, bestD := "", 1<<30
	for _, c := range candidates {
		dist := editDistance(ns, norm(c))
		if dist < bestD {
			best, bestD = c, dist
		}
	}
	n := len([]rune(ns))
	limit := 1
	switch {
	case n > 8:
		limit = 3
	case n > 4:
		limit = 2
	}
	if best == "" || bestD > limit {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		if a == b {
			return 0
		}
		return 1 << 20
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// file decodes the top of the file.
func (d *decoder) file(n *yaml.Node) *File {
	f := &File{Path: d.name, pos: d.pos}
	m := d.mappingExt(n, "", "a spec file is a mapping: children:, strategy:, audio: ...", fileKeys, true)
	if m == nil {
		return f
	}
	if v := m.get("version"); v != nil {
		if ver, ok := d.integer(v, "version"); ok && ver != 1 {
			d.fail(v, "version", "", "unsupported version %d: this program reads version 1", ver)
		}
	}
	if v := m.get("name"); v != nil {
		if name, ok := d.str(v, "name"); ok {
			d.mark("Name", v)
			switch {
			case name == "":
				d.fail(v, "name", "leave name out for the default, 'root'", "empty name")
			case strings.Contains(name, "/"):
				d.fail(v, "name", "", "'%s' must not contain '/' (it separates actor paths)", name)
			case strings.HasPrefix(name, "$"):
				d.fail(v, "name", "", "'%s' must not start with '$' (protoactor's generated names do)", name)
			default:
				f.Name = name
			}
		}
	}
	if v := m.get("audio"); v != nil {
		f.Audio = d.audio(v, "audio")
	}
	if v := m.get("cluster"); v != nil {
		f.Cluster = d.cluster(v, "cluster")
	}
	tree := false
	for _, k := range supervisorKeys {
		tree = tree || m.has(k)
	}
	if tree || !m.has("audio") {
		f.Tree = d.supervisor(m, "", "", nil, nil, 0, f)
	}
	return f
}

// supervisor decodes the keys of a supervisor (the file's top, or a
// child's supervisor:). names is the path of child names to it; inherited
// the backoff its parent declares for its children.
func (d *decoder) supervisor(m *fields, path, goPath string, names []string, inherited *backoffDecl, depth int, f *File) *supervision.Spec {
	s := &supervision.Spec{}
	if m == nil {
		return s
	}
	if depth > maxDepth {
		d.fail(m.node, path, "", "supervisors nested more than %d deep", maxDepth)
		return s
	}
	if v := m.get("strategy"); v != nil {
		s.Strategy, _ = parseEnum(d, v, joinPath(path, "strategy"), "strategy", strategies)
		d.mark(joinGo(goPath, "Strategy"), v)
	}
	if v := m.get("intensity"); v != nil {
		s.Intensity = d.intensity(v, joinPath(path, "intensity"), joinGo(goPath, "Intensity"))
	}
	if v := m.get("auto_shutdown"); v != nil {
		s.AutoShutdown, _ = parseEnum(d, v, joinPath(path, "auto_shutdown"), "auto_shutdown", autoShutdowns)
		d.mark(joinGo(goPath, "AutoShutdown"), v)
	}
	bo := inherited
	if v := m.get("backoff"); v != nil {
		own := d.backoff(v, joinPath(path, "backoff"))
		bo = own.over(inherited)
	}
	sofo := s.Strategy == supervision.SimpleOneForOne
	if sofo && s.AutoShutdown != "" && s.AutoShutdown != supervision.Never {
		d.fail(m.get("auto_shutdown"), joinPath(path, "auto_shutdown"), "", "a simple_one_for_one supervisor must use never")
	}
	d.mark(joinGo(goPath, "Children"), m.node)
	children, template := m.get("children"), m.get("template")
	switch {
	case sofo && children != nil:
		d.fail(m.key("children"), joinPath(path, "children"), "write its one child as template: {name: ..., command: ...}", "a simple_one_for_one supervisor declares a template, not children")
	case sofo && template == nil:
		d.fail(m.node, path, "add template: {name: ..., command: ...}", "a simple_one_for_one supervisor needs its template")
	case !sofo && template != nil:
		d.fail(m.key("template"), joinPath(path, "template"), "set strategy: simple_one_for_one, or list the child under children:", "template is for a simple_one_for_one supervisor")
	case !sofo && children == nil:
		hint := "children: [] starts it empty"
		if path == "" {
			hint = "declare the tree's children (children: [] starts it empty); see docs/spec-reference.md"
		}
		d.fail(m.node, path, hint, "missing 'children'")
	}
	if !sofo && m.has("instances") {
		d.fail(m.key("instances"), joinPath(path, "instances"), "set strategy: simple_one_for_one", "instances are for a simple_one_for_one supervisor")
	}

	switch {
	case sofo && template != nil:
		c := d.child(template, joinPath(path, "template"), joinGo(goPath, "Children[0]"), s, bo, names, depth, f)
		s.Children = []supervision.ChildSpec{c}
		if v := m.get("instances"); v != nil {
			for _, args := range d.instances(v, joinPath(path, "instances")) {
				f.Instances = append(f.Instances, Instance{Supervisor: slices.Clone(names), Args: args})
			}
		}
	case children != nil:
		list := d.deref(children)
		if list == nil {
			break
		}
		cpath := joinPath(path, "children")
		if list.Kind != yaml.SequenceNode {
			d.fail(list, cpath, "", "want a list of children, got %s", describe(list))
			break
		}
		seen := map[string]*yaml.Node{}
		for i, item := range list.Content {
			ipath := fmt.Sprintf("%s[%d]", cpath, i)
			c := d.child(item, ipath, fmt.Sprintf("%s[%d]", joinGo(goPath, "Children"), i), s, bo, names, depth, f)
			if c.Name != "" {
				if first, dup := seen[c.Name]; dup {
					d.fail(d.nameNode(item), ipath+".name", fmt.Sprintf("first at line %d", first.Line), "duplicate child name '%s'", c.Name)
				} else {
					seen[c.Name] = d.nameNode(item)
				}
			}
			s.Children = append(s.Children, c)
		}
	}
	return s
}

// nameNode returns the name value of a child mapping, for positions.
func (d *decoder) nameNode(item *yaml.Node) *yaml.Node {
	for item != nil && item.Kind == yaml.AliasNode {
		item = item.Alias
	}
	if item == nil || item.Kind != yaml.MappingNode {
		return item
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		if item.Content[i].Value == "name" {
			return item.Content[i+1]
		}
	}
	return item
}

// instances decodes a simple_one_for_one supervisor's instances: a count,
// or a list whose items are the extra arguments of each (a list, or one
// scalar).
func (d *decoder) instances(n *yaml.Node, path string) [][]string {
	n = d.deref(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		count, ok := d.integer(n, path)
		switch {
		case !ok:
		case count < 0 || count > maxInstances:
			d.fail(n, path, "", "%d is out of range: want 0 to %d", count, maxInstances)
		default:
			return make([][]string, count)
		}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "instances: 3, or instances: [[8080], [8081]]", "want a count or a list of argument lists, got %s", describe(n))
		return nil
	}
	if len(n.Content) > maxInstances {
		d.fail(n, path, "", "%d instances: at most %d", len(n.Content), maxInstances)
		return nil
	}
	out := make([][]string, 0, len(n.Content))
	for i, item := range n.Content {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		if it := d.deref(item); it != nil && it.Kind == yaml.ScalarNode {
			if s, ok := d.anyScalar(it, ipath); ok {
				out = append(out, []string{s})
			}
			continue
		}
		args, _ := d.scalarList(item, ipath, "a list of arguments")
		if len(args) == 0 {
			args = nil
		}
		out = append(out, args)
	}
	return out
}

// child decodes one child of supervisor parent.
func (d *decoder) child(n *yaml.Node, path, goPath string, parent *supervision.Spec, bo *backoffDecl, names []string, depth int, f *File) supervision.ChildSpec {
	var c supervision.ChildSpec
	m := d.mapping(n, path, "a child: {name: web, command: ./web}", childKeys)
	if m == nil {
		return c
	}
	d.mark(goPath, m.node)
	if v := m.get("name"); v != nil {
		d.mark(joinGo(goPath, "Name"), v)
		if name, ok := d.str(v, joinPath(path, "name")); ok {
			switch {
			case name == "":
				d.fail(v, joinPath(path, "name"), "", "empty name")
			case strings.Contains(name, "/"):
				d.fail(v, joinPath(path, "name"), "", "'%s' must not contain '/' (it separates actor paths)", name)
			case strings.HasPrefix(name, "$"):
				d.fail(v, joinPath(path, "name"), "", "'%s' must not start with '$' (protoactor's generated names do)", name)
			default:
				c.Name = name
			}
		}
	} else {
		d.fail(m.node, path, "", "missing 'name'")
	}

	kinds := 0
	for _, k := range []string{"command", "worker", "supervisor"} {
		if m.has(k) {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		d.fail(m.node, path, "a child runs an executable, a Go worker this program registers, or a nested supervisor", "missing 'command', 'worker' or 'supervisor'")
	case m.has("supervisor") && kinds > 1:
		other := "command"
		if !m.has("command") {
			other = "worker"
		}
		d.fail(m.key("supervisor"), joinPath(path, "supervisor"), "a child is a process or a supervisor", "'supervisor' and '%s' both set", other)
	}

	if v := m.get("supervisor"); v != nil {
		for _, k := range processKeys {
			if m.has(k) && k != "command" && k != "worker" && k != "nodes" && k != "takeover" {
				d.fail(m.key(k), joinPath(path, k), "", "'%s' is for a process child, and this child is a supervisor", k)
			}
		}
		d.mark(joinGo(goPath, "Supervisor"), v)
		if parent.Strategy == supervision.SimpleOneForOne {
			d.fail(m.key("supervisor"), joinPath(path, "supervisor"), "", "a simple_one_for_one template must be a process")
		}
		sm := d.mapping(v, joinPath(path, "supervisor"), "supervisor: {strategy: one_for_one, children: [...]}", supervisorKeys)
		c.Supervisor = d.supervisor(sm, joinPath(path, "supervisor"), joinGo(goPath, "Supervisor"), append(slices.Clone(names), c.Name), bo, depth+1, f)
		d.placement(m, path, goPath, &c)
	} else if kinds > 0 {
		c.Process = d.process(m, path, joinGo(goPath, "Process"), goPath, &c)
	}

	if v := m.get("restart"); v != nil {
		c.Restart, _ = parseEnum(d, v, joinPath(path, "restart"), "restart", restarts)
		d.mark(joinGo(goPath, "Restart"), v)
	}
	if v := m.get("shutdown"); v != nil {
		c.Shutdown = d.shutdown(v, joinPath(path, "shutdown"), c.Supervisor != nil)
		d.mark(joinGo(goPath, "Shutdown"), v)
	}
	if v := m.get("significant"); v != nil {
		d.mark(joinGo(goPath, "Significant"), v)
		if sig, ok := d.boolean(v, joinPath(path, "significant")); ok && sig {
			c.Significant = true
			switch {
			case c.Restart == "" || c.Restart == supervision.Permanent:
				d.fail(v, joinPath(path, "significant"), "make it restart: transient or restart: temporary", "a permanent child cannot be significant")
			case parent.AutoShutdown == "" || parent.AutoShutdown == supervision.Never:
				d.fail(v, joinPath(path, "significant"), "set the supervisor's auto_shutdown: any_significant or all_significant", "significant has no effect under auto_shutdown: never")
			}
		}
	}
	own := bo
	if v := m.get("backoff"); v != nil {
		own = d.backoff(v, joinPath(path, "backoff")).over(bo)
	}
	if own != nil {
		c.Backoff = own.b
		d.checkBackoff(own, joinGo(goPath, "Backoff"))
	}
	return c
}

// process decodes the process keys of a child.
func (d *decoder) process(m *fields, path, goPath, childGo string, c *supervision.ChildSpec) *procbridge.Spec {
	p := &procbridge.Spec{}
	key := func(k string) string { return joinPath(path, k) }
	commandList := false
	if v := m.get("command"); v != nil {
		d.mark(joinGo(goPath, "Path"), v)
		if vv := d.deref(v); vv != nil && vv.Kind == yaml.SequenceNode {
			argv, ok := d.scalarList(vv, key("command"), "the program and its arguments")
			switch {
			case ok && len(argv) == 0:
				d.fail(vv, key("command"), "", "empty command")
			case ok:
				commandList = true
				p.Path = d.command(vv, key("command"), argv[0])
				if len(argv) > 1 {
					p.Args = argv[1:]
				}
				d.mark(joinGo(goPath, "Args"), vv)
			}
		} else if s, ok := d.str(v, key("command")); ok {
			p.Path = d.command(v, key("command"), s)
		}
	}
	if v := m.get("worker"); v != nil {
		d.mark(joinGo(goPath, "Worker"), v)
		if name, ok := d.str(v, key("worker")); ok {
			if m.has("command") {
				d.fail(m.key("worker"), key("worker"), "a child runs either an executable or a Go worker", "'command' and 'worker' both set")
			} else {
				d.checkWorker(v, key("worker"), name)
				p.Worker = name
			}
		}
	}
	if v := m.get("args"); v != nil {
		d.mark(joinGo(goPath, "Args"), v)
		if commandList {
			d.fail(m.key("args"), key("args"), "put them in the command list, or write command as a string", "args with a command list")
		} else if args, ok := d.scalarList(v, key("args"), "a list of arguments"); ok && len(args) > 0 {
			p.Args = args
		}
	}
	clear := false
	if v := m.get("clear_env"); v != nil {
		clear, _ = d.boolean(v, key("clear_env"))
		d.mark(joinGo(goPath, "Env"), v)
	}
	if v := m.get("env"); v != nil {
		d.mark(joinGo(goPath, "Env"), v)
		p.Env = d.env(v, key("env"), clear)
	} else if clear {
		p.Env = []string{}
	}
	if v := m.get("dir"); v != nil {
		d.mark(joinGo(goPath, "Dir"), v)
		if s, ok := d.str(v, key("dir")); ok {
			if s == "" {
				d.fail(v, key("dir"), "leave dir out to run in the runner's directory", "empty dir")
			}
			p.Dir = resolvePath(d.base, s)
		}
	}
	if v := m.get("sdk"); v != nil {
		d.mark(joinGo(goPath, "SDK"), v)
		p.SDK, _ = d.boolean(v, key("sdk"))
	}
	if v := m.get("notify"); v != nil {
		d.mark(joinGo(goPath, "Notify"), v)
		p.Notify, _ = d.boolean(v, key("notify"))
	}
	if v := m.get("notification_fd"); v != nil {
		d.mark(joinGo(goPath, "NotificationFD"), v)
		if n, ok := d.integer(v, key("notification_fd")); ok {
			p.NotificationFD = int(max(min(n, 1<<40), -1<<40))
		}
	}
	sdk := p.SDK || m.has("worker")
	for _, s := range []struct {
		key, field string
		out        *procbridge.Output
	}{{"stdout", "Stdout", &p.Stdout}, {"stderr", "Stderr", &p.Stderr}} {
		*s.out = procbridge.Output{} // inherit
		if v := m.get(s.key); v != nil {
			d.mark(joinGo(goPath, s.field), v)
			*s.out = d.output(v, key(s.key))
		}
	}
	if v := m.get("ready_timeout"); v != nil {
		d.mark(joinGo(goPath, "ReadyTimeout"), v)
		if t, ok := d.duration(v, key("ready_timeout")); ok {
			if t <= 0 {
				d.fail(v, key("ready_timeout"), "leave it out for the default, 10s", "%s must be positive", formatDuration(t))
			}
			p.ReadyTimeout = t
		}
	}
	if v := m.get("heartbeat"); v != nil {
		p.Heartbeat = d.heartbeat(v, key("heartbeat"), joinGo(goPath, "Heartbeat"))
		if p.Heartbeat.Interval > 0 && !sdk && !p.Notify {
			d.fail(m.key("heartbeat"), key("heartbeat"), "set sdk: true if the executable links procbridge/worker, notify: true if it speaks sd_notify, or use a Go worker", "a heartbeat needs a worker that beats")
		}
	}
	if v := m.get("state_size"); v != nil {
		d.mark(joinGo(goPath, "StateSize"), v)
		if n, ok := d.size(v, key("state_size")); ok {
			p.StateSize = int(min(n, 1<<62))
		}
	}
	if v := m.get("ring_size"); v != nil {
		d.mark(joinGo(goPath, "RingSize"), v)
		if n, ok := d.size(v, key("ring_size")); ok {
			p.RingSize = int(min(n, 1<<62))
		}
	}
	d.limits(m, p, key, goPath)
	if v := m.get("standby"); v != nil {
		d.mark(joinGo(childGo, "Standby"), v)
		if n, ok := d.integer(v, key("standby")); ok {
			if n > 0 && !sdk {
				d.fail(v, key("standby"), "set sdk: true if the executable links procbridge/worker, or use a Go worker", "a hot standby needs a worker that can park and take over")
			} else {
				c.Standby = int(max(min(n, 1<<40), -1<<40))
			}
		}
	}
	d.placement(m, path, childGo, c)
	return p
}

// placement decodes the nodes a child (a process or a subtree) runs on,
// and its takeover.
func (d *decoder) placement(m *fields, path, childGo string, c *supervision.ChildSpec) {
	if v := m.get("nodes"); v != nil {
		d.mark(joinGo(childGo, "Nodes"), v)
		if nodes, ok := d.scalarList(v, joinPath(path, "nodes"), "a list of node names"); ok {
			c.Nodes = nodes
		}
	}
	if v := m.get("takeover"); v != nil {
		d.mark(joinGo(childGo, "Takeover"), v)
		c.Takeover, _ = d.boolean(v, joinPath(path, "takeover"))
	}
}

// cluster decodes the file's cluster: how the tree reaches the nodes its
// remote children (nodes: [...]) run on.
func (d *decoder) cluster(n *yaml.Node, path string) supervision.Cluster {
	var cl supervision.Cluster
	const hint = "cluster: {lease: 1s, nodes: {a: 127.0.0.1:7401, b: 127.0.0.1:7402}}"
	m := d.mapping(n, path, hint, clusterKeys)
	if m == nil {
		return cl
	}
	d.mark("Cluster", m.node)
	if v := m.get("listen"); v != nil {
		d.mark("Cluster.Listen", v)
		if s, ok := d.str(v, joinPath(path, "listen")); ok {
			cl.Listen = s
		}
	}
	if v := m.get("lease"); v != nil {
		d.mark("Cluster.Lease", v)
		if t, ok := d.duration(v, joinPath(path, "lease")); ok {
			if t < 10*time.Millisecond {
				d.fail(v, joinPath(path, "lease"), "a second is a fair start", "%s is below the 10ms floor", formatDuration(t))
			}
			cl.Lease = t
		}
	}
	v := d.deref(m.get("nodes"))
	if v == nil {
		d.fail(m.node, path, hint, "missing 'nodes'")
		return cl
	}
	if v.Kind != yaml.MappingNode {
		d.fail(v, joinPath(path, "nodes"), hint, "nodes is a mapping of node names to host:port, not %s", describe(v))
		return cl
	}
	cl.Nodes = map[string]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		name, addr := v.Content[i], v.Content[i+1]
		at := joinPath(joinPath(path, "nodes"), name.Value)
		s, ok := d.str(addr, at)
		switch {
		case !ok:
		case name.Value == "" || s == "":
			d.fail(addr, at, hint, "want a node name and its host:port")
		default:
			cl.Nodes[name.Value] = s
		}
	}
	return cl
}

// limits reads memory_max (a size, 0 or at least 1MiB), cpu_max (a number
// of CPUs, 0 or at least 0.01) and pids_max (a count of tasks).
func (d *decoder) limits(m *fields, p *procbridge.Spec, key func(string) string, goPath string) {
	if v := m.get("memory_max"); v != nil {
		d.mark(joinGo(goPath, "MemoryMax"), v)
		if n, ok := d.size(v, key("memory_max")); ok {
			if n > 0 && n < 1<<20 {
				d.fail(d.deref(v), key("memory_max"), "such as 256MiB; leave it out for no limit", "%s is below 1MiB: no program runs in that", formatSize(n))
			}
			p.MemoryMax = n
		}
	}
	if v := m.get("cpu_max"); v != nil {
		d.mark(joinGo(goPath, "CPUMax"), v)
		if n := d.deref(v); n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && strings.HasSuffix(n.Value, "%") {
			hint := "a number of CPUs, such as 0.5"
			if f, err := strconv.ParseFloat(strings.TrimSuffix(n.Value, "%"), 64); err == nil && f > 0 {
				hint = "write " + fmtFloat(f/100) + ": a number of CPUs"
			}
			d.fail(n, key("cpu_max"), hint, "%q: not a percentage", n.Value)
		} else if f, ok := d.number(v, key("cpu_max")); ok {
			if f != 0 && (f < 0.01 || f > 1<<20) {
				d.fail(d.deref(v), key("cpu_max"), "a number of CPUs from 0.01, such as 0.5; leave it out for no limit", "%s is out of range", fmtFloat(f))
			}
			p.CPUMax = f
		}
	}
	if v := m.get("pids_max"); v != nil {
		d.mark(joinGo(goPath, "PidsMax"), v)
		if n, ok := d.integer(v, key("pids_max")); ok {
			if n < 0 {
				d.fail(d.deref(v), key("pids_max"), "leave it out for no limit", "%d must not be negative", n)
			}
			p.PidsMax = int(max(min(n, 1<<40), -1<<40))
		}
	}
}

// command resolves an executable named in the file: a name without a
// slash is looked up in PATH when the process starts, a path is made
// absolute.
func (d *decoder) command(n *yaml.Node, path, s string) string {
	switch {
	case s == "":
		d.fail(n, path, "", "empty command")
		return ""
	case strings.ContainsRune(s, '/'):
		return resolvePath(d.base, s)
	}
	return s
}

// checkWorker reports a Go worker name this program does not register.
func (d *decoder) checkWorker(n *yaml.Node, path, name string) {
	if name == "" {
		d.fail(n, path, "", "empty worker name")
		return
	}
	err := (&procbridge.Spec{Worker: name}).Validate()
	se, ok := err.(*procbridge.SpecError)
	if !ok || se.Field != "Worker" {
		return
	}
	hint := suggest(name, registeredWorkers(se.Reason), "registered: ")
	if hint == "" {
		hint = "this program registers no Go workers"
	}
	d.fail(n, path, hint, "no Go worker '%s' is registered in this program", name)
}

// registeredWorkers reads the registered names out of procbridge's
// "(registered: a, b)" reason; procbridge exports no list.
func registeredWorkers(reason string) []string {
	_, list, ok := strings.Cut(reason, "(registered: ")
	if !ok {
		return nil
	}
	list = strings.TrimSuffix(strings.TrimSpace(list), ")")
	var names []string
	for _, n := range strings.Split(list, ", ") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// env decodes env: a mapping of variables; unless clear, the runner's own
// environment comes first (without the variables env sets).
func (d *decoder) env(n *yaml.Node, path string, clear bool) []string {
	m := d.deref(n)
	if m == nil {
		return nil
	}
	if m.Kind != yaml.MappingNode {
		d.fail(m, path, "env: {NAME: value}", "want a mapping of variables, got %s", describe(m))
		return nil
	}
	var set []string
	names := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := d.deref(m.Content[i]), m.Content[i+1]
		if k == nil {
			continue
		}
		kpath := joinPath(path, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			d.fail(k, path, "", "a variable name must be a string, not %s", describe(k))
			continue
		case k.Value == "" || strings.ContainsAny(k.Value, "=\x00"):
			d.fail(k, kpath, "", "'%s' is not a variable name", k.Value)
			continue
		case names[k.Value]:
			d.fail(k, kpath, "", "duplicate variable '%s'", k.Value)
			continue
		}
		val, ok := d.anyScalar(v, kpath)
		if !ok {
			continue
		}
		if strings.ContainsRune(val, 0) {
			d.fail(v, kpath, "", "a NUL byte in a variable")
			continue
		}
		names[k.Value] = true
		set = append(set, k.Value+"="+val)
	}
	if clear {
		if set == nil {
			set = []string{}
		}
		return set
	}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !names[name] {
			env = append(env, kv)
		}
	}
	return append(env, set...)
}

// output decodes stdout or stderr: inherit, discard, lines, a file path
// (one with a '/'), or {path, max_size, max_files} for a file that rotates.
func (d *decoder) output(n *yaml.Node, path string) procbridge.Output {
	if v := d.deref(n); v != nil && v.Kind == yaml.MappingNode {
		return d.rotatedOutput(v, path)
	}
	s, ok := d.str(n, path)
	if !ok {
		return procbridge.Output{}
	}
	switch s {
	case "inherit":
		return procbridge.Output{}
	case "discard":
		return procbridge.Discard
	case "lines":
		return procbridge.Lines
	case "":
		d.fail(n, path, "", "empty output")
		return procbridge.Output{}
	}
	if !strings.ContainsRune(s, '/') {
		hint := "a file path needs a '/': ./" + s
		if c := closest(s, []string{"inherit", "discard", "lines"}); c != "" {
			hint = "did you mean '" + c + "'?"
		}
		d.fail(n, path, hint, "unknown output '%s': want inherit, discard, lines or a file path", s)
		return procbridge.Output{}
	}
	if strings.HasSuffix(s, "/") {
		d.fail(n, path, "", "'%s' names a directory, not a file", s)
		return procbridge.Output{}
	}
	return procbridge.ToWriter(&fileOutput{Path: resolvePath(d.base, s)})
}

// rotatedOutput decodes {path, max_size, max_files}: an output file that
// rotates by size (see fileOutput).
func (d *decoder) rotatedOutput(n *yaml.Node, path string) procbridge.Output {
	m := d.mapping(n, path, "want {path, max_size, max_files}", []string{"path", "max_size", "max_files"})
	if m == nil {
		return procbridge.Output{}
	}
	if !m.has("path") {
		d.fail(n, path, "add path: ./logs/NAME.log", "an output file needs a path")
		return procbridge.Output{}
	}
	pv := d.deref(m.get("path"))
	if pv == nil {
		return procbridge.Output{}
	}
	if pv.Kind == yaml.ScalarNode && slices.Contains([]string{"inherit", "discard", "lines"}, pv.Value) {
		d.fail(pv, joinPath(path, "path"), "write the word alone, as stdout: "+pv.Value, "'%s' is not a file path: only a file rotates", pv.Value)
		return procbridge.Output{}
	}
	if pv.Kind != yaml.ScalarNode {
		d.fail(pv, joinPath(path, "path"), "", "want a file path, got %s", describe(pv))
		return procbridge.Output{}
	}
	out := d.output(pv, joinPath(path, "path"))
	fo, ok := hooks.OutputWriter(out).(*fileOutput)
	if !ok {
		return procbridge.Output{} // output said why
	}
	if v := m.get("max_size"); v != nil {
		size, ok := d.size(v, joinPath(path, "max_size"))
		if ok && size < minRotateSize {
			d.fail(v, joinPath(path, "max_size"), "at least 4KiB", "a max_size of %d bytes is too small", size)
		}
		fo.MaxSize = size
	}
	if v := m.get("max_files"); v != nil {
		if fo.MaxSize == 0 {
			d.fail(v, joinPath(path, "max_files"), "add max_size", "max_files without max_size: the file never rotates")
		}
		if k, ok := d.integer(v, joinPath(path, "max_files")); ok {
			if k < 0 || k > maxRotateFiles {
				d.fail(v, joinPath(path, "max_files"), "", "%d rotated files: want 0 to %d", k, maxRotateFiles)
			} else {
				fo.MaxFiles = int(k)
			}
		}
	} else if fo.MaxSize > 0 {
		fo.MaxFiles = defaultMaxFiles
	}
	return out
}

// shutdown decodes a child's shutdown: brutal_kill, infinity or a grace
// period.
func (d *decoder) shutdown(n *yaml.Node, path string, supervisor bool) time.Duration {
	v := d.deref(n)
	if v == nil {
		return 0
	}
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
		switch v.Value {
		case "brutal_kill":
			if supervisor {
				d.fail(v, path, "use infinity, or a grace period", "a nested supervisor cannot be killed brutally: its children must be stopped in order")
			}
			return supervision.BrutalKill
		case "infinity":
			if !supervisor {
				d.fail(v, path, "use a grace period such as 5s, or brutal_kill", "infinity is only for a nested supervisor: a process is stopped within a grace period, then killed")
			}
			return supervision.Infinity
		}
		if c := closest(v.Value, []string{"brutal_kill", "infinity"}); c != "" {
			d.fail(v, path, "did you mean '"+c+"'?", "unknown shutdown '%s': want brutal_kill, infinity or a grace period", v.Value)
			return 0
		}
	}
	grace, ok := d.duration(v, path)
	if !ok {
		return 0
	}
	if grace <= 0 {
		d.fail(v, path, "leave shutdown out for the default", "a grace period of %s: it must be positive", formatDuration(grace))
		return 0
	}
	return grace
}

// intensity decodes {max_restarts, period}. In the file, max_restarts: 0
// means no restarts at all (NoRestarts), as in OTP; leaving it out means
// the default, 1. A period left out is the default, 5s.
func (d *decoder) intensity(n *yaml.Node, path, goPath string) supervision.Intensity {
	var in supervision.Intensity
	m := d.mapping(n, path, "intensity: {max_restarts: 3, period: 5s}", intensityKeys)
	if m == nil {
		return in
	}
	d.mark(goPath, m.node)
	if v := m.get("max_restarts"); v != nil {
		d.mark(goPath+".MaxRestarts", v)
		if r, ok := d.integer(v, joinPath(path, "max_restarts")); ok {
			switch {
			case r < 0:
				d.fail(v, joinPath(path, "max_restarts"), "0 allows no restarts at all", "%d is out of range: want 0 or more", r)
			case r == 0:
				in.MaxRestarts = supervision.NoRestarts
			case r > 1_000_000:
				d.fail(v, joinPath(path, "max_restarts"), "", "%d is out of range: want at most 1000000", r)
			default:
				in.MaxRestarts = int(r)
			}
		}
	}
	if v := m.get("period"); v != nil {
		d.mark(goPath+".Period", v)
		if p, ok := d.duration(v, joinPath(path, "period")); ok {
			if p <= 0 {
				d.fail(v, joinPath(path, "period"), "", "%s must be positive", formatDuration(p))
			}
			in.Period = p
		}
	} else if in.MaxRestarts > 0 {
		in.Period = defaultPeriod // supervision requires a period with max_restarts
	}
	return in
}

// heartbeat decodes {interval, timeout}.
func (d *decoder) heartbeat(n *yaml.Node, path, goPath string) procbridge.Heartbeat {
	var hb procbridge.Heartbeat
	m := d.mapping(n, path, "heartbeat: {interval: 10ms, timeout: 100ms}", heartbeatKeys)
	if m == nil {
		return hb
	}
	d.mark(goPath, m.node)
	iv, tv := m.get("interval"), m.get("timeout")
	if iv == nil {
		d.fail(m.node, path, "heartbeat: {interval: 10ms, timeout: 100ms}", "missing 'interval'")
	}
	if tv == nil {
		d.fail(m.node, path, "a few intervals, such as timeout: 100ms for interval: 10ms", "missing 'timeout'")
	}
	if iv != nil {
		d.mark(goPath+".Interval", iv)
		if t, ok := d.duration(iv, joinPath(path, "interval")); ok {
			if t < time.Millisecond {
				d.fail(iv, joinPath(path, "interval"), "", "%s is below the 1ms floor", formatDuration(t))
			}
			hb.Interval = t
		}
	}
	if tv != nil {
		d.mark(goPath+".Timeout", tv)
		if t, ok := d.duration(tv, joinPath(path, "timeout")); ok {
			if hb.Interval > 0 && t <= hb.Interval {
				d.fail(tv, joinPath(path, "timeout"), "a few intervals, such as "+formatDuration(4*hb.Interval), "%s must be above the interval, %s", formatDuration(t), formatDuration(hb.Interval))
			}
			hb.Timeout = t
		}
	}
	return hb
}

// backoffDecl is a backoff mapping of the file: the fields it sets, and
// where.
type backoffDecl struct {
	b     supervision.Backoff
	none  bool                  // backoff: none
	nodes map[string]*yaml.Node // by key
	paths map[string]string     // by key
}

// over returns the backoff of b with the fields it leaves out taken from
// parent. "none" is a switch, not a set of fields: it neither takes nor
// gives any.
func (b *backoffDecl) over(parent *backoffDecl) *backoffDecl {
	if parent == nil || b.none || parent.none {
		return b
	}
	out := &backoffDecl{b: b.b, nodes: map[string]*yaml.Node{}, paths: map[string]string{}}
	for _, k := range backoffKeys {
		src := b
		if _, ok := b.nodes[k]; !ok {
			src = parent
		}
		if n, ok := src.nodes[k]; ok {
			out.nodes[k], out.paths[k] = n, src.paths[k]
			switch k {
			case "initial":
				out.b.Initial = src.b.Initial
			case "max":
				out.b.Max = src.b.Max
			case "multiplier":
				out.b.Multiplier = src.b.Multiplier
			case "jitter":
				out.b.Jitter = src.b.Jitter
			case "reset_after":
				out.b.ResetAfter = src.b.ResetAfter
			}
		}
	}
	return out
}

// backoff decodes a backoff mapping, or none (no delay between restarts).
func (d *decoder) backoff(n *yaml.Node, path string) *backoffDecl {
	decl := &backoffDecl{nodes: map[string]*yaml.Node{}, paths: map[string]string{}}
	if v := d.deref(n); v != nil && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
		if v.Value == "none" {
			decl.b.Initial, decl.none = -1, true
			decl.nodes["initial"], decl.paths["initial"] = v, path
			return decl
		}
		hint := "backoff: none, or backoff: {initial: 100ms, max: 10s}"
		if closest(v.Value, []string{"none"}) != "" {
			hint = "did you mean 'none'?"
		}
		d.fail(v, path, hint, "unknown backoff '%s'", v.Value)
		return decl
	}
	m := d.mapping(n, path, "backoff: {initial: 100ms, max: 10s}, or backoff: none", backoffKeys)
	if m == nil {
		return decl
	}
	for _, k := range backoffKeys {
		v := m.get(k)
		if v == nil {
			continue
		}
		kpath := joinPath(path, k)
		switch k {
		case "initial", "max", "reset_after":
			t, ok := d.duration(v, kpath)
			if !ok {
				continue
			}
			if t <= 0 {
				d.fail(v, kpath, "", "%s must be positive", formatDuration(t))
				continue
			}
			switch k {
			case "initial":
				decl.b.Initial = t
			case "max":
				decl.b.Max = t
			default:
				decl.b.ResetAfter = t
			}
		case "multiplier":
			f, ok := d.number(v, kpath)
			if !ok {
				continue
			}
			if f < 1 || f > 1000 {
				d.fail(v, kpath, "", "%s is out of range: want 1 to 1000", fmtFloat(f))
				continue
			}
			decl.b.Multiplier = f
		case "jitter":
			f, ok := d.number(v, kpath)
			if !ok {
				continue
			}
			decl.b.Jitter = f
		}
		decl.nodes[k], decl.paths[k] = v, kpath
	}
	return decl
}

// checkBackoff marks the positions of a child's backoff, once its own and
// the one it inherits are merged: supervision's checks (an initial wait
// above the cap, say) are placed there.
func (d *decoder) checkBackoff(b *backoffDecl, goPath string) {
	for _, k := range backoffKeys {
		if n, ok := b.nodes[k]; ok {
			field := map[string]string{"initial": "Initial", "max": "Max", "multiplier": "Multiplier", "jitter": "Jitter", "reset_after": "ResetAfter"}[k]
			d.mark(goPath+"."+field, n)
		}
	}
}

// backstop validates the loaded tree the way Start will and reports, at
// the nearest position known, the problems supervision and procbridge find
// (ranges and rules the loader leaves to them); after problems of decoding
// (partial), only those place keeps.
// Whether executables and directories exist is left to Preflight: the
// check runs on a copy where each process runs this program, in the
// current directory.
func (d *decoder) backstop(f *File, partial bool) {
	if f.Tree == nil {
		return
	}
	self, err := os.Executable()
	if err != nil {
		return
	}
	spec := hostless(*f.Tree, self)
	for _, e := range unjoin(spec.Validate()) {
		var se *procbridge.SpecError
		switch {
		case e == nil:
		case errors.As(e, &se):
			msg := se.Reason
			if se.Value != "" {
				msg = se.Value + ": " + se.Reason
			}
			_, exact := f.pos[se.Field]
			d.place(&placed{f.errorAt(se.Field, f.filePath(se.Field), "", "%s", msg), exact}, partial)
		default:
			d.place(&placed{&Error{File: d.name, Msg: e.Error()}, false}, partial)
		}
	}
}

// hostless returns a deep copy of s whose processes name no executable or
// directory of the host.
func hostless(s supervision.Spec, exe string) supervision.Spec {
	s.Children = slices.Clone(s.Children)
	for i := range s.Children {
		c := &s.Children[i]
		if c.Process != nil {
			p := *c.Process
			if p.Path != "" {
				p.Path = exe
			}
			p.Dir = ""
			c.Process = &p
		}
		if c.Supervisor != nil {
			sub := hostless(*c.Supervisor, exe)
			c.Supervisor = &sub
		}
	}
	return s
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// defaultPeriod is supervision's default intensity period (OTP's), which
// the file applies when it sets max_restarts alone.
const defaultPeriod = 5 * time.Second

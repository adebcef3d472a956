package audio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// execKind is the kind of a node served by an executable (Node.Path) that
// speaks the node protocol (docs/node-protocol.md): the engine runs that
// executable as the node's process, a primary with its spares, as it runs
// this program re-executed for the Go kinds.
const execKind = "exec"

// nodeProtocol is the node protocol's version.
const nodeProtocol = 1

// Bounds of what an executable may declare.
const (
	maxExecPorts  = 64
	maxExecParams = 64
	maxExecState  = 1 << 20
)

// execQueryTimeout bounds each question put to a node's executable while
// the graph is checked.
const execQueryTimeout = 10 * time.Second

// execDesc is what an executable says of its kind (--understudy-describe).
type execDesc struct {
	Inputs, Outputs, State int
	Params                 []ParamSpec
}

// execProc is a node of kind exec as the graph sees it: its ports, state
// size and parameters, all checked. The engine runs the executable; the
// offline render (Render) runs it too, as a coprocess fed block by block,
// so that the reference is the same code's output.
type execProc struct {
	path   string // absolute
	rate   int
	desc   *execDesc
	params Params // every declared parameter, defaults filled in
	co     *coproc
}

func (p *execProc) Inputs() int    { return p.desc.Inputs }
func (p *execProc) Outputs() int   { return p.desc.Outputs }
func (p *execProc) StateSize() int { return p.desc.State }

// Process computes one block through the executable's offline mode, which
// Render starts; without it (or once it failed) the outputs are silence,
// and Render reports the failure.
func (p *execProc) Process(state []byte, in, out [][]float32) {
	if p.co == nil || p.co.err != nil {
		for _, o := range out {
			clear(o)
		}
		return
	}
	p.co.process(state, in, out)
}

// args returns the parameters as the executable takes them: p.NAME=VALUE,
// in the order of its declaration, each value exact.
func (p *execProc) args() []string {
	a := make([]string, 0, len(p.desc.Params))
	for _, s := range p.desc.Params {
		a = append(a, "p."+s.Name+"="+strconv.FormatFloat(p.params[s.Name], 'g', -1, 64))
	}
	return a
}

// execCache remembers, for this process, what executables said of
// themselves and of parameter sets, by path and file identity, so that a
// graph checked again (and the node processes, which receive it through
// the wire graph) asks no executable twice.
var execCache = struct {
	sync.Mutex
	m map[string]*execEntry
}{m: map[string]*execEntry{}}

// execEntry is what one executable said, valid while its file is the same.
type execEntry struct {
	Path    string
	Size    int64
	ModTime int64
	Desc    *execDesc
	Checks  map[string]string // "rate p.a=1 …" → "" (ok) or "NAME reason"
}

// buildExec checks node n of kind exec at rate and returns its Processor.
// Its errors are *procbridge.SpecErrors whose Field is "path", "process",
// "rate" or a parameter, wrapping ErrInvalidGraph.
func buildExec(n Node, rate int) (*execProc, error) {
	if n.Path == "" {
		return nil, fieldErr(ErrInvalidGraph, "path", "", "a node of kind exec needs path: the executable that serves it")
	}
	if n.Process != "" {
		return nil, fieldErr(ErrInvalidGraph, "process", n.Process,
			"a node of kind exec runs in its executable's own process: leave process out")
	}
	if rate < 1 {
		return nil, fieldErr(ErrInvalidGraph, "rate", rate, "must be at least 1")
	}
	path, err := filepath.Abs(n.Path)
	if err != nil {
		return nil, fieldErr(ErrInvalidGraph, "path", n.Path, "%v", err)
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, fieldErr(ErrInvalidGraph, "path", n.Path, "%v", unwrapPathErr(err))
	case st.IsDir() || st.Mode()&0o111 == 0:
		return nil, fieldErr(ErrInvalidGraph, "path", n.Path, "not an executable file")
	}
	e, err := describeExec(path, st)
	if err != nil {
		return nil, fieldErr(ErrInvalidGraph, "path", n.Path, "%v", err)
	}
	k := Kind{Name: execKind, Params: e.Desc.Params}
	full, err := k.check(n.Params)
	if err != nil {
		return nil, err
	}
	p := &execProc{path: path, rate: rate, desc: e.Desc, params: full}
	key := strings.Join(append([]string{"rate=" + strconv.Itoa(rate)}, p.args()...), " ")
	execCache.Lock()
	verdict, ok := e.Checks[key]
	execCache.Unlock()
	if !ok {
		out, err := queryExec(path, append([]string{"--understudy-check", "rate=" + strconv.Itoa(rate)}, p.args()...))
		if err != nil {
			return nil, fieldErr(ErrInvalidGraph, "path", n.Path, "%v", err)
		}
		switch line := strings.TrimSpace(string(out)); {
		case line == "ok":
		case strings.HasPrefix(line, "error "):
			verdict = strings.TrimPrefix(line, "error ")
		default:
			return nil, fieldErr(ErrInvalidGraph, "path", n.Path, "--understudy-check answered %q, want ok or error NAME REASON", line)
		}
		execCache.Lock()
		e.Checks[key] = verdict
		execCache.Unlock()
	}
	if verdict != "" {
		name, reason, _ := strings.Cut(verdict, " ")
		if name == "rate" {
			return nil, fieldErr(ErrInvalidGraph, "rate", rate, "%s", reason)
		}
		return nil, fieldErr(ErrInvalidGraph, name, full[name], "%s", reason)
	}
	return p, nil
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// describeExec returns what the executable at path says of its kind,
// asking it once per file.
func describeExec(path string, st os.FileInfo) (*execEntry, error) {
	execCache.Lock()
	e, ok := execCache.m[path]
	execCache.Unlock()
	if ok && e.Size == st.Size() && e.ModTime == st.ModTime().UnixNano() {
		return e, nil
	}
	out, err := queryExec(path, []string{"--understudy-describe"})
	if err != nil {
		return nil, err
	}
	d, err := parseDesc(out)
	if err != nil {
		return nil, fmt.Errorf("its --understudy-describe: %w", err)
	}
	e = &execEntry{Path: path, Size: st.Size(), ModTime: st.ModTime().UnixNano(), Desc: d, Checks: map[string]string{}}
	execCache.Lock()
	execCache.m[path] = e
	execCache.Unlock()
	return e, nil
}

// queryExec runs path with args and returns its output, or an error with
// its status and what it printed on stderr.
func queryExec(path string, args []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), execQueryTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %v", execQueryTimeout)
		}
		if msg != "" {
			return nil, fmt.Errorf("%s %s: %w: %s", filepath.Base(path), args[0], err, msg)
		}
		return nil, fmt.Errorf("%s %s: %w (is it a node built with understudy_node.h?)", filepath.Base(path), args[0], err)
	}
	return out, nil
}

// parseDesc reads an executable's description: docs/node-protocol.md,
// "Describe".
func parseDesc(out []byte) (*execDesc, error) {
	d := &execDesc{Inputs: -1, Outputs: -1, State: -1}
	sc := bufio.NewScanner(bytes.NewReader(out))
	line, ended := 0, false
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		bad := func(format string, args ...any) error {
			return fmt.Errorf("line %d %q: %s", line, sc.Text(), fmt.Sprintf(format, args...))
		}
		switch {
		case ended:
			return nil, bad("after end")
		case line == 1:
			if len(f) != 2 || f[0] != "understudy-node" {
				return nil, bad("want understudy-node VERSION first")
			}
			if f[1] != strconv.Itoa(nodeProtocol) {
				return nil, bad("node protocol version %s: this engine speaks %d", f[1], nodeProtocol)
			}
		case len(f) == 2 && (f[0] == "inputs" || f[0] == "outputs" || f[0] == "state"):
			limit := map[string]int{"inputs": maxExecPorts, "outputs": maxExecPorts, "state": maxExecState}[f[0]]
			v, err := strconv.Atoi(f[1])
			if err != nil || v < 0 || v > limit {
				return nil, bad("want a whole number from 0 to %d", limit)
			}
			*map[string]*int{"inputs": &d.Inputs, "outputs": &d.Outputs, "state": &d.State}[f[0]] = v
		case len(f) == 7 && f[0] == "param":
			s := ParamSpec{Name: f[1]}
			var errs [3]error
			s.Min, errs[0] = strconv.ParseFloat(f[2], 64)
			s.Max, errs[1] = strconv.ParseFloat(f[3], 64)
			s.Default, errs[2] = strconv.ParseFloat(f[4], 64)
			if err := errors.Join(errs[:]...); err != nil {
				return nil, bad("min, max, default: %v", err)
			}
			if (f[5] != "0" && f[5] != "1") || (f[6] != "0" && f[6] != "1") {
				return nil, bad("required and integer are 0 or 1")
			}
			s.Required, s.Integer = f[5] == "1", f[6] == "1"
			if err := checkName(s.Name); err != nil {
				return nil, bad("parameter name: %v", err)
			}
			if slices.ContainsFunc(d.Params, func(p ParamSpec) bool { return p.Name == s.Name }) {
				return nil, bad("parameter %s declared twice", s.Name)
			}
			if math.IsNaN(s.Min) || math.IsNaN(s.Max) || s.Min > s.Max || !s.Required && !(s.Default >= s.Min && s.Default <= s.Max) {
				return nil, bad("want min <= default <= max")
			}
			if len(d.Params) == maxExecParams {
				return nil, bad("more than %d parameters", maxExecParams)
			}
			d.Params = append(d.Params, s)
		case len(f) == 1 && f[0] == "end":
			ended = true
		default:
			return nil, bad("not a line of a description")
		}
	}
	switch {
	case line == 0:
		return nil, errors.New("printed nothing")
	case !ended:
		return nil, errors.New("no end line")
	case d.Inputs < 0 || d.Outputs < 0 || d.State < 0:
		return nil, errors.New("inputs, outputs and state are each needed")
	}
	return d, nil
}

// seedExec puts what the engine's process learnt of executables into this
// process's cache (a node process, from the wire graph).
func seedExec(entries []*execEntry) {
	execCache.Lock()
	defer execCache.Unlock()
	for _, e := range entries {
		if e != nil && e.Desc != nil {
			if e.Checks == nil {
				e.Checks = map[string]string{}
			}
			execCache.m[e.Path] = e
		}
	}
}

// execEntries returns the cache entries of g's exec nodes.
func execEntries(g *Graph) []*execEntry {
	execCache.Lock()
	defer execCache.Unlock()
	var out []*execEntry
	for _, n := range g.Nodes {
		if n.Kind != execKind || n.Path == "" {
			continue
		}
		path, err := filepath.Abs(n.Path)
		if e, ok := execCache.m[path]; err == nil && ok && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// coproc is an executable's offline mode, for Render: per block, the frame
// count, the state and the inputs down its stdin; the new state and the
// outputs back up its stdout.
type coproc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr bytes.Buffer
	buf    []byte
	err    error
}

func startCoproc(p *execProc) (*coproc, error) {
	c := &coproc{}
	c.cmd = exec.Command(p.path, append([]string{"--understudy-offline", "rate=" + strconv.Itoa(p.rate)}, p.args()...)...)
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if c.stdout, err = c.cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *coproc) process(state []byte, in, out [][]float32) {
	frames := 0
	if len(in) > 0 {
		frames = len(in[0])
	} else if len(out) > 0 {
		frames = len(out[0])
	}
	c.buf = c.buf[:0]
	c.buf = binary.LittleEndian.AppendUint32(c.buf, uint32(frames))
	c.buf = append(c.buf, state...)
	for _, b := range in {
		for _, v := range b {
			c.buf = binary.LittleEndian.AppendUint32(c.buf, math.Float32bits(v))
		}
	}
	if _, err := c.stdin.Write(c.buf); err != nil {
		c.fail(err)
		return
	}
	n := len(state) + 4*frames*len(out)
	c.buf = slices.Grow(c.buf[:0], n)[:n]
	if _, err := io.ReadFull(c.stdout, c.buf); err != nil {
		c.fail(err)
		return
	}
	copy(state, c.buf)
	r := c.buf[len(state):]
	for _, b := range out {
		for i := range b {
			b[i] = math.Float32frombits(binary.LittleEndian.Uint32(r[4*i:]))
		}
		r = r[4*len(b):]
	}
}

func (c *coproc) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// close ends the coprocess and returns the first error of its life.
func (c *coproc) close() error {
	c.stdin.Close()
	werr := c.cmd.Wait()
	err := c.err
	if err == nil {
		err = werr
	}
	if err != nil {
		if msg := strings.TrimSpace(c.stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return fmt.Errorf("%s --understudy-offline: %w", filepath.Base(c.cmd.Path), err)
	}
	return nil
}

// execArgs returns the arguments of host h's executable, which serves node
// x alone: where its records lie on the bus, who feeds it and whom it
// wakes, and its parameters (docs/node-protocol.md, "Arguments").
func (e *Engine) execArgs(h int, x *execProc) []string {
	t, l := e.t, e.b.Layout()
	i := t.members[h][0]
	terminal := 0
	if t.terminal[i] {
		terminal = 1
	}
	a := []string{"--understudy-node",
		"version=" + strconv.Itoa(nodeProtocol),
		"rate=" + strconv.Itoa(t.rate),
		"block=" + strconv.Itoa(t.blockSize),
		"lanes=" + strconv.Itoa(e.lanes),
		"bus=" + strconv.Itoa(l.Total),
		"host=" + strconv.Itoa(l.HostOff[h]),
		"node=" + strconv.Itoa(l.NodeOff[i]),
		"outs=" + strconv.Itoa(l.OutOff[i]),
		"stride=" + strconv.Itoa(l.LaneOuts[i]),
		"prio=" + strconv.Itoa(e.hostPriority(h)),
		"terminals=" + strconv.Itoa(len(t.terminals)),
		"terminal=" + strconv.Itoa(terminal),
	}
	for k, srcs := range t.inputs[i] {
		feeds := make([]string, len(srcs))
		for j, s := range srcs {
			feeds[j] = fmt.Sprintf("%d:%d:%d:%d", l.NodeOff[s.node], l.OutOff[s.node], l.LaneOuts[s.node], s.port)
		}
		a = append(a, fmt.Sprintf("in%d=%s", k, strings.Join(feeds, ",")))
	}
	for k, hs := range t.hostSucc[i] {
		preds := make([]string, len(t.hostPreds[hs]))
		for j, q := range t.hostPreds[hs] {
			preds[j] = strconv.Itoa(l.NodeOff[q])
		}
		a = append(a, fmt.Sprintf("succ%d=%d:%s", k, l.HostOff[hs], strings.Join(preds, ",")))
	}
	return append(a, x.args()...)
}

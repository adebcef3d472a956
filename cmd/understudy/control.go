package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/spec"
	"github.com/understudy/understudy/supervision"
)

// The control surface of a running tree is one net/http handler: JSON
// over the routes below, wrapping the supervision API (Supervisor.Children,
// TerminateChild, RestartChild, StartChild, DeleteChild, Tree.Subscribe).
// `understudy run` serves it on a Unix socket (control_serve.go; each
// peer's credentials checked in socket_linux.go) for `understudy ctl`;
// curl --unix-socket works too.
//
//	GET  /v1/status                 the tree, every child
//	GET  /v1/events                 the events from now on, one JSON object a line
//	                                (server-sent events for Accept: text/event-stream)
//	POST /v1/restart?child=PATH     stop the child and start it again
//	POST /v1/stop?child=PATH        stop it; it stays stopped
//	POST /v1/start?child=PATH       start a stopped child
//	POST /v1/kill?child=PATH        SIGKILL its process (its supervisor reacts)
//	POST /v1/signal?child=PATH&signal=SIG
//	POST /v1/reload                 re-read the file, apply the difference
//
// A child's PATH is its names from the root, "jobs/fetch", optionally led
// by the root's own name, "demo/jobs/fetch"; a POST may name it (and the
// signal) in a JSON body instead, {"child": PATH, "signal": SIG}, as the
// web page does (web.go). A refusal is a status of 4xx with
// {"error": "..."}.

// controlQuery bounds one request's questions to the supervisors.
const controlQuery = 5 * time.Second

// control is what the handler and the live view know of the running tree.
type control struct {
	began time.Time

	started *spec.File // the file the tree started from: its root's settings hold

	mu      sync.Mutex
	file    *spec.File   // the file as last loaded (reload replaces it)
	files   []*spec.File // every file loaded, closed when the tree has ended
	tree    *supervision.Tree
	state   string            // starting, running, stopping, ended
	ends    map[string]string // how each child (by actor path) last ended, from the events
	asked   map[string]int    // restarts asked for through the handler, per child (by actor path)
	metrics string            // the metrics URL, when served
	socket  string            // the control socket's path, when served
	web     string            // the web page's URL, when served

	reload func(ctx context.Context) (reloadReport, error) // the runner's
}

func newControl(f *spec.File) *control {
	return &control{began: time.Now(), started: f, file: f, files: []*spec.File{f}, state: "starting", ends: map[string]string{}, asked: map[string]int{}}
}

func (c *control) setTree(t *supervision.Tree) {
	c.mu.Lock()
	c.tree, c.state = t, "running"
	c.mu.Unlock()
}

// served records where the metrics, the control socket and the web page
// are served.
func (c *control) served(metrics, socket, web string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if metrics != "" {
		c.metrics = metrics
	}
	if socket != "" {
		c.socket = socket
	}
	if web != "" {
		c.web = web
	}
}

func (c *control) setState(s string) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

func (c *control) current() (*supervision.Tree, *spec.File) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tree, c.file
}

// closeFiles closes the output files of every file loaded.
func (c *control) closeFiles() {
	c.mu.Lock()
	files := c.files
	c.files = nil
	c.mu.Unlock()
	for _, f := range files {
		_ = f.Close()
	}
}

// maxEnds bounds the children whose ends control keeps: a
// simple_one_for_one pool that churns gives out new names forever. Past
// it, half are forgotten (their rows fall back on ChildInfo.LastExit).
const maxEnds = 4096

// observe keeps, per child, how it last ended, from the tree's events:
// a failover, which the supervisor's ChildInfo.LastExit does not tell, and
// the stop of every child at the tree's end, when no supervisor is left
// to ask. It runs on the supervisors' goroutines.
func (c *control) observe(ev supervision.Event) {
	h := ev.EventHeader()
	key := h.Supervisor + "/" + h.Child
	what := ""
	switch e := ev.(type) {
	case supervision.ChildExited:
		var esc *supervision.EscalationError
		switch {
		case e.Exited != nil:
			what = e.Exited.Exit.String()
		case errors.As(e.Err, &esc):
			what = "gave up"
		case errors.Is(e.Err, supervision.ErrNodeLost):
			what = "node " + h.Node + " lost"
		case e.Err != nil:
			what = "did not start"
		default:
			what = "shut itself down"
		}
	case supervision.ChildTerminated:
		if e.Removed {
			c.mu.Lock()
			delete(c.ends, key)
			delete(c.asked, key)
			c.mu.Unlock()
		}
		return
	case supervision.ChildStopped:
		what = "stopped"
		if e.Exit != nil {
			what = e.Exit.String() // "stopped by us: ..."
		}
		what += " (" + e.Reason + ")"
		if e.Late {
			what += ", LATE"
		} else if e.Killed {
			what += ", killed after its grace"
		}
	case supervision.ChildProcess:
		p, ok := e.Event.(procbridge.Promoted)
		if !ok {
			return
		}
		what = fmt.Sprintf("pid %d %s; failed over to %d", p.From, failoverCause(p.Cause), p.To)
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ends) >= maxEnds {
		for k := range c.ends {
			delete(c.ends, k)
			if len(c.ends) < maxEnds/2 {
				break
			}
		}
	}
	c.ends[key] = what
}

// failoverCause says what gave a hot-standby primary away.
func failoverCause(e procbridge.Event) string {
	switch e := e.(type) {
	case procbridge.Dying:
		return "died"
	case procbridge.Hung:
		return "hung"
	case procbridge.Exited:
		return e.Exit.String()
	case procbridge.Violated:
		return "broke the protocol"
	case nil:
		return "switched"
	}
	return "failed"
}

// restartsAsked is how many restarts of the child at path were asked for
// through the handler: a supervisor counts in ChildInfo.Restarts only the
// restarts it decided (and failovers), not a stop and start again.
func (c *control) restartsAsked(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asked[path]
}

func (c *control) lastEnd(path string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.ends[path]
	return s, ok
}

// treeStatus is GET /v1/status.
type treeStatus struct {
	Name     string        `json:"name"`
	File     string        `json:"file"`
	Pid      int           `json:"pid"`
	State    string        `json:"state"`
	Uptime   float64       `json:"uptime_seconds"`
	Metrics  string        `json:"metrics,omitempty"`
	Socket   string        `json:"socket,omitempty"`
	Web      string        `json:"web,omitempty"`
	Children []childStatus `json:"children"`
}

// childStatus is one child of treeStatus.
type childStatus struct {
	Path        string   `json:"path"` // its actor path, led by the root's name
	Depth       int      `json:"depth"`
	Supervisor  bool     `json:"supervisor,omitempty"`
	State       string   `json:"state"`
	Pid         int      `json:"pid,omitempty"`
	Node        string   `json:"node,omitempty"` // a remote child's node: where its pid is
	Spares      []int    `json:"spares,omitempty"`
	Incarnation int      `json:"incarnation"`
	Restarts    int      `json:"restarts"`                        // the supervisor's count, and the restarts asked for through the control
	Uptime      *float64 `json:"uptime_seconds,omitempty"`        // while running
	Heartbeat   *float64 `json:"heartbeat_age_seconds,omitempty"` // while running, when it beats
	LastExit    string   `json:"last_exit,omitempty"`
}

// rootName is the root supervisor's name, the first part of every path.
func rootName(f *spec.File) string {
	if f.Name == "" {
		return "root"
	}
	return f.Name
}

func (c *control) status(ctx context.Context) treeStatus {
	t, f := c.current()
	c.mu.Lock()
	st := treeStatus{Name: rootName(f), File: f.Path, Pid: os.Getpid(), State: c.state, Uptime: time.Since(c.began).Seconds(), Metrics: c.metrics, Socket: c.socket, Web: c.web, Children: []childStatus{}}
	c.mu.Unlock()
	if t != nil {
		st.Children, _ = c.snapshot(ctx, t, f)
	}
	return st
}

// snapshot asks every supervisor of the tree for its children, depth
// first in start order; ok says whether the root answered.
func (c *control) snapshot(ctx context.Context, t *supervision.Tree, f *spec.File) (rows []childStatus, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, viewQuery)
	defer cancel()
	rows = []childStatus{}
	now := time.Now()
	var visit func(names []string, sp *supervision.Spec, depth int)
	visit = func(names []string, sp *supervision.Spec, depth int) {
		s := t.Supervisor(names...)
		children, err := s.Children(ctx)
		if err != nil {
			return
		}
		if depth == 0 {
			ok = true
		}
		for _, ci := range children {
			r := childStatus{Path: s.Path() + "/" + ci.Name, Depth: depth, Supervisor: ci.Supervisor, State: string(ci.State),
				Pid: ci.Pid, Node: ci.Node, Spares: ci.Spares, Incarnation: ci.Incarnation}
			r.Restarts = ci.Restarts + c.restartsAsked(r.Path)
			if ci.LastExit != nil {
				r.LastExit = ci.LastExit.String()
			} else if ci.LastErr != nil && ci.Supervisor {
				r.LastExit = "gave up"
			}
			if end, ok := c.lastEnd(r.Path); ok {
				r.LastExit = end // the events know of failovers and stops
			}
			cs := childSpec(sp, ci.Name)
			if ci.State == supervision.StateRunning && !ci.Since.IsZero() {
				up := now.Sub(ci.Since).Seconds()
				r.Uptime = &up
			}
			if !ci.Supervisor && ci.State == supervision.StateRunning && cs != nil && cs.Process != nil && cs.Process.Heartbeat.Interval > 0 {
				age := ci.HeartbeatAge.Seconds()
				r.Heartbeat = &age
			}
			rows = append(rows, r)
			if ci.Supervisor && ci.State != supervision.StateTerminated && cs != nil && cs.Supervisor != nil {
				visit(append(append([]string(nil), names...), ci.Name), cs.Supervisor, depth+1)
			}
		}
	}
	if f.Tree != nil {
		visit(nil, f.Tree, 0)
	}
	return rows, ok
}

// stale is row as it was last seen, for a child no supervisor answers for
// any more (the tree is stopping or has ended): no process, and how it
// ended, from the events.
func (c *control) stale(row childStatus, state string) childStatus {
	row.State, row.Pid, row.Spares, row.Heartbeat, row.Uptime = state, 0, nil, nil, nil
	if end, ok := c.lastEnd(row.Path); ok {
		row.LastExit = end
	}
	return row
}

// childSpec returns the spec of the child called name, or the template of
// a simple_one_for_one supervisor.
func childSpec(s *supervision.Spec, name string) *supervision.ChildSpec {
	if s == nil {
		return nil
	}
	if s.Strategy == supervision.SimpleOneForOne && len(s.Children) == 1 {
		return &s.Children[0]
	}
	for i := range s.Children {
		if s.Children[i].Name == name {
			return &s.Children[i]
		}
	}
	return nil
}

// supervisorSpec returns the spec of the nested supervisor reached through
// names, or nil.
func supervisorSpec(s *supervision.Spec, names []string) *supervision.Spec {
	for _, n := range names {
		c := childSpec(s, n)
		if c == nil || c.Supervisor == nil {
			return nil
		}
		s = c.Supervisor
	}
	return s
}

// httpError is a refusal: its status and what to say.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func refuse(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// handler returns the control API's handler.
func (c *control) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c.status(r.Context()))
	})
	mux.HandleFunc("GET /v1/events", c.events)
	for _, op := range []string{"restart", "stop", "start", "kill", "signal"} {
		mux.HandleFunc("POST /v1/"+op, func(w http.ResponseWriter, r *http.Request) {
			p, err := actParams(w, r)
			if err != nil {
				answer(w, nil, err)
				return
			}
			res, err := c.act(r.Context(), op, p.Child, p.Signal)
			answer(w, res, err)
		})
	}
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		if c.reload == nil {
			answer(w, nil, refuse(http.StatusConflict, "the tree is not running"))
			return
		}
		rep, err := c.reload(r.Context())
		answer(w, rep, err)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		answer(w, nil, refuse(http.StatusNotFound, "no %s %s: see understudy help ctl", r.Method, r.URL.Path))
	})
	return mux
}

// actRequest names the child of an operation (and the signal of
// signal): in the query, ?child=PATH&signal=SIG, or in a JSON body,
// {"child": PATH, "signal": SIG}, which the web page sends.
type actRequest struct {
	Child  string `json:"child"`
	Signal string `json:"signal,omitempty"`
}

// actParams reads an operation's actRequest from r.
func actParams(w http.ResponseWriter, r *http.Request) (actRequest, error) {
	p := actRequest{Child: r.URL.Query().Get("child"), Signal: r.URL.Query().Get("signal")}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || r.ContentLength == 0 {
		return p, nil
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	var body actRequest
	if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		return p, refuse(http.StatusBadRequest, "the body: want {\"child\": PATH}: %v", err)
	}
	if body.Child != "" {
		p.Child = body.Child
	}
	if body.Signal != "" {
		p.Signal = body.Signal
	}
	return p, nil
}

func answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		status := http.StatusInternalServerError
		var he *httpError
		if errors.As(err, &he) {
			status = he.status
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// actResult is the answer to a child operation.
type actResult struct {
	Child string `json:"child"`
	Did   string `json:"did"`
	Pid   int    `json:"pid,omitempty"` // the child's process now, or the one signalled
}

// target is a child found by its path.
type target struct {
	sup     *supervision.Supervisor
	info    supervision.ChildInfo
	path    string // its actor path
	dynamic bool   // started from a simple_one_for_one template: stopped, it is gone
}

// find finds the child at path ("jobs/fetch" or "demo/jobs/fetch").
func (c *control) find(ctx context.Context, path string) (target, error) {
	t, f := c.current()
	if t == nil {
		return target{}, refuse(http.StatusConflict, "the tree is not running yet")
	}
	if path == "" {
		return target{}, refuse(http.StatusBadRequest, "no child: name one by its path, such as jobs/fetch")
	}
	names := strings.Split(strings.Trim(path, "/"), "/")
	try := [][]string{names}
	if len(names) > 1 && names[0] == rootName(f) {
		try = append(try, names[1:])
	}
	for _, n := range try {
		s := t.Supervisor(n[:len(n)-1]...)
		children, err := s.Children(ctx)
		if err != nil {
			continue
		}
		for _, ci := range children {
			if ci.Name == n[len(n)-1] {
				sp := supervisorSpec(f.Tree, n[:len(n)-1])
				dynamic := sp != nil && sp.Strategy == supervision.SimpleOneForOne
				return target{sup: s, info: ci, path: s.Path() + "/" + ci.Name, dynamic: dynamic}, nil
			}
		}
	}
	return target{}, refuse(http.StatusNotFound, "no child %q in the tree (understudy ctl status lists them)", path)
}

// act runs one child operation.
//
// Finding the child is bounded by controlQuery; the operation is not (a
// start waits for the child to be ready, within its own ready timeout)
// but for ctx, the client's request.
func (c *control) act(ctx context.Context, op, path, sig string) (actResult, error) {
	fctx, cancel := context.WithTimeout(ctx, controlQuery)
	tg, err := c.find(fctx, path)
	cancel()
	if err != nil {
		return actResult{}, err
	}
	res := actResult{Child: tg.path}
	name := tg.info.Name
	state := tg.info.State
	if tg.dynamic && (op == "start" || op == "restart") {
		return res, refuse(http.StatusConflict, "%s was started from a simple_one_for_one template: it cannot be started again by name (kill restarts it, as its restart type says)", tg.path)
	}
	switch op {
	case "stop":
		if state == supervision.StateTerminated {
			return res, refuse(http.StatusConflict, "%s is stopped already", tg.path)
		}
		if err := tg.sup.TerminateChild(ctx, name); err != nil {
			return res, supervisionRefusal(tg.path, err)
		}
		res.Did = "stopped"
		switch {
		case tg.dynamic:
			res.Did = "stopped and removed (a child started from a template is not kept)"
		case tg.info.Restart == supervision.Temporary:
			res.Did = "stopped and removed (a temporary child is not kept)"
		}
		return res, nil
	case "start":
		if state != supervision.StateTerminated {
			return res, refuse(http.StatusConflict, "%s is %s, not stopped: restart restarts it", tg.path, state)
		}
		ci, err := tg.sup.RestartChild(ctx, name)
		if err != nil {
			return res, supervisionRefusal(tg.path, err)
		}
		res.Did, res.Pid = "started", ci.Pid
		return res, nil
	case "restart":
		if state != supervision.StateTerminated {
			if err := tg.sup.TerminateChild(ctx, name); err != nil {
				return res, supervisionRefusal(tg.path, err)
			}
		}
		ci, err := tg.sup.RestartChild(ctx, name)
		if err != nil {
			return res, supervisionRefusal(tg.path, err)
		}
		c.mu.Lock()
		c.asked[tg.path]++
		c.mu.Unlock()
		res.Did, res.Pid = "restarted", ci.Pid
		return res, nil
	case "kill", "signal":
		s := syscall.SIGKILL
		if op == "signal" {
			if s, err = parseSignal(sig); err != nil {
				return res, refuse(http.StatusBadRequest, "signal %q: %v", sig, err)
			}
		}
		if tg.info.Supervisor {
			return res, refuse(http.StatusBadRequest, "%s is a supervisor, not a process: name one of its children", tg.path)
		}
		if tg.info.Pid == 0 || state != supervision.StateRunning {
			return res, refuse(http.StatusConflict, "%s has no running process (it is %s)", tg.path, state)
		}
		if tg.info.Node != "" {
			// Its pid is one on that machine, not this one's.
			return res, refuse(http.StatusConflict, "%s runs on node %s, pid %d there: signal it on that machine", tg.path, tg.info.Node, tg.info.Pid)
		}
		if err := sendSignal(tg.info.Pid, s); err != nil {
			return res, refuse(http.StatusConflict, "%s: pid %d: %v", tg.path, tg.info.Pid, err)
		}
		res.Did, res.Pid = "sent "+signalName(s), tg.info.Pid
		return res, nil
	}
	return res, refuse(http.StatusNotFound, "no operation %q", op)
}

// supervisionRefusal turns a supervisor's refusal into a clear one.
func supervisionRefusal(path string, err error) error {
	switch {
	case errors.Is(err, supervision.ErrNoChild):
		return refuse(http.StatusNotFound, "no child %q in the tree (understudy ctl status lists them)", path)
	case errors.Is(err, supervision.ErrSimpleOneForOne):
		return refuse(http.StatusConflict, "%s was started from a simple_one_for_one template: it cannot be started again by name (kill restarts it by its restart type)", path)
	case errors.Is(err, supervision.ErrRestarting):
		return refuse(http.StatusConflict, "%s is being restarted already", path)
	case errors.Is(err, supervision.ErrRunning):
		return refuse(http.StatusConflict, "%s is running already", path)
	case errors.Is(err, supervision.ErrShuttingDown), errors.Is(err, supervision.ErrNoSupervisor):
		return refuse(http.StatusConflict, "%s: its supervisor is shutting down or restarting", path)
	case errors.Is(err, supervision.ErrStartFailed):
		return refuse(http.StatusConflict, "%s did not start: %v", path, err)
	}
	return refuse(http.StatusInternalServerError, "%s: %v", path, err)
}

// eventRecord is one line of GET /v1/events.
type eventRecord struct {
	Time        time.Time `json:"time"`
	Type        string    `json:"type"`
	Child       string    `json:"child"` // its actor path
	Incarnation int       `json:"incarnation"`
	Restarts    int       `json:"restarts"`
	Pid         int       `json:"pid,omitempty"`
	Text        string    `json:"text"`
}

func newEventRecord(ev supervision.Event) eventRecord {
	h := ev.EventHeader()
	r := eventRecord{Time: h.Time, Child: h.Supervisor + "/" + h.Child, Incarnation: h.Incarnation, Restarts: h.Restarts, Text: ev.String()}
	r.Type = strings.TrimPrefix(fmt.Sprintf("%T", ev), "supervision.")
	switch e := ev.(type) {
	case supervision.ChildReady:
		if e.Ready != nil {
			r.Pid = e.Ready.Pid
		}
	case supervision.ChildExited:
		if e.Exited != nil {
			r.Pid = e.Exited.Pid
		}
	case supervision.ChildStopped:
		r.Pid = e.Pid
	case supervision.ChildProcess:
		switch p := e.Event.(type) {
		case procbridge.Promoted:
			r.Pid = p.To
		case procbridge.Dying:
			r.Pid = p.Pid
		case procbridge.Hung:
			r.Pid = p.Pid
		}
	}
	return r
}

// events streams the tree's events from now on, one JSON object a line,
// until the client goes or the tree ends; to a client that accepts
// text/event-stream (a browser's EventSource), as server-sent events, the
// same object in each event's data.
func (c *control) events(w http.ResponseWriter, r *http.Request) {
	t, _ := c.current()
	if t == nil {
		answer(w, nil, refuse(http.StatusConflict, "the tree is not running yet"))
		return
	}
	evs := t.Subscribe(r.Context(), 1024)
	sse := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush() // the client knows it is subscribed
	}
	for ev := range evs {
		line, err := json.Marshal(newEventRecord(ev))
		if err != nil {
			continue
		}
		if sse {
			_, err = fmt.Fprintf(w, "data: %s\n\n", line)
		} else {
			_, err = fmt.Fprintf(w, "%s\n", line)
		}
		if err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

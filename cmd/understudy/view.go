package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy/spec"
	"github.com/understudy/understudy/supervision"
)

// The live view redraws the tree in place with plain ANSI escapes: the
// cursor goes home, every line is rewritten and cleared to its end, and what
// is left below is cleared. No terminal library: a table of children, a
// status line and the latest events.

const (
	viewRefresh = 250 * time.Millisecond // redraw at least this often
	viewEvents  = 8                      // latest log records shown
	viewQuery   = time.Second            // bound of one round of status queries
)

// liveView draws the tree on a terminal.
type liveView struct {
	out    io.Writer
	file   *spec.File
	events *eventRing
	began  time.Time

	mu     sync.Mutex
	tree   *supervision.Tree
	status string
	last   []row // the last rows drawn

	kick    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
}

func newLiveView(out io.Writer, f *spec.File, _ *runner) *liveView {
	v := &liveView{out: out, file: f, began: time.Now(), kick: make(chan struct{}, 1), status: "starting"}
	v.events = &eventRing{max: viewEvents, onWrite: v.redrawSoon}
	return v
}

func (v *liveView) setTree(t *supervision.Tree) {
	v.mu.Lock()
	v.tree, v.status = t, "running; Ctrl-C stops the tree"
	v.mu.Unlock()
	v.redrawSoon()
}

func (v *liveView) setStatus(s string) {
	v.mu.Lock()
	v.status = s
	v.mu.Unlock()
	v.redrawSoon()
}

func (v *liveView) redrawSoon() {
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

// start starts the goroutine that redraws; stop stops it and waits.
func (v *liveView) start() {
	ctx, cancel := context.WithCancel(context.Background())
	v.cancel, v.done = cancel, make(chan struct{})
	fmt.Fprint(v.out, "\x1b[?25l\x1b[H\x1b[2J") // hide the cursor, clear the screen
	go func() {
		defer close(v.done)
		t := time.NewTicker(viewRefresh)
		defer t.Stop()
		for {
			v.draw(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-v.kick:
			}
		}
	}()
}

// stop draws a last frame, leaves it on the screen and shows the cursor.
// Calling it again does nothing.
func (v *liveView) stop() {
	v.mu.Lock()
	if v.stopped || v.cancel == nil {
		v.stopped = true
		v.mu.Unlock()
		return
	}
	v.stopped = true
	v.mu.Unlock()
	v.cancel()
	<-v.done
	v.draw(context.Background())
	fmt.Fprint(v.out, "\x1b[?25h")
}

// row is one child, as the view shows it.
type row struct {
	path      string
	depth     int
	super     bool // a nested supervisor
	state     string
	pid       int
	restarts  int
	lastExit  string
	heartbeat string
}

// snapshot asks every supervisor of the tree for its children.
func (v *liveView) snapshot(ctx context.Context, t *supervision.Tree) []row {
	ctx, cancel := context.WithTimeout(ctx, viewQuery)
	defer cancel()
	var rows []row
	var visit func(names []string, spec *supervision.Spec, depth int)
	visit = func(names []string, spec *supervision.Spec, depth int) {
		s := t.Supervisor(names...)
		children, err := s.Children(ctx)
		if err != nil {
			return
		}
		for _, c := range children {
			r := row{path: s.Path() + "/" + c.Name, depth: depth, super: c.Supervisor, state: string(c.State), pid: c.Pid, restarts: c.Restarts, lastExit: "-", heartbeat: "-"}
			if c.LastExit != nil {
				r.lastExit = c.LastExit.String()
			} else if c.LastErr != nil && c.Supervisor {
				r.lastExit = "gave up"
			}
			cs := childSpec(spec, c.Name)
			if !c.Supervisor && c.State == supervision.StateRunning && cs != nil && cs.Process != nil && cs.Process.Heartbeat.Interval > 0 {
				r.heartbeat = c.HeartbeatAge.Round(time.Millisecond).String()
			}
			rows = append(rows, r)
			if c.Supervisor && c.State != supervision.StateTerminated && cs != nil && cs.Supervisor != nil {
				visit(append(append([]string(nil), names...), c.Name), cs.Supervisor, depth+1)
			}
		}
	}
	if v.file.Tree != nil {
		visit(nil, v.file.Tree, 0)
	}
	return rows
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

func (v *liveView) draw(ctx context.Context) {
	v.mu.Lock()
	t, status := v.tree, v.status
	v.mu.Unlock()
	rows := v.lastRows()
	if t != nil {
		select {
		case <-t.Done():
			// The tree has ended: what was last seen, and that it is over.
			ended := make([]row, len(rows))
			for i, r := range rows {
				r.state, r.pid, r.heartbeat = "ended", 0, "-"
				ended[i] = r
			}
			rows = ended
		default:
			if ctx.Err() == nil {
				rows = v.snapshot(ctx, t)
				v.mu.Lock()
				v.last = rows
				v.mu.Unlock()
			}
		}
	}
	width, height := termSize(v.out)
	var b bytes.Buffer
	b.WriteString("\x1b[H")
	line := func(s string) {
		if r := []rune(s); len(r) > width {
			s = string(r[:width])
		}
		b.WriteString(s)
		b.WriteString("\x1b[K\n")
	}
	line(fmt.Sprintf("understudy  %s  up %v  %s", v.file.Path, time.Since(v.began).Round(time.Second), status))
	line("")
	line(fmt.Sprintf("%-32s %-12s %8s %8s  %-28s %s", "CHILD", "STATE", "PID", "RESTARTS", "LAST EXIT", "HEARTBEAT"))
	if room := height - 6 - viewEvents; room > 0 && len(rows) > room {
		hidden := len(rows) - room + 1
		rows = append(rows[:room-1:room-1], row{path: fmt.Sprintf("/… %d more", hidden), state: "", lastExit: "", heartbeat: ""})
	}
	for _, r := range rows {
		name := strings.Repeat("  ", r.depth) + r.path[strings.LastIndexByte(r.path, '/')+1:]
		if r.super {
			name += "/"
		}
		pid := "-"
		if r.pid != 0 {
			pid = fmt.Sprint(r.pid)
		}
		line(fmt.Sprintf("%-32s %-12s %8s %8d  %-28s %s", name, r.state, pid, r.restarts, r.lastExit, r.heartbeat))
	}
	line("")
	line("latest events:")
	for _, e := range v.events.lines() {
		line("  " + e)
	}
	b.WriteString("\x1b[J")
	_, _ = v.out.Write(b.Bytes())
}

func (v *liveView) lastRows() []row {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.last
}

// eventRing keeps the latest lines written to it (one log record each).
type eventRing struct {
	max     int
	onWrite func()

	mu      sync.Mutex
	partial []byte
	ring    []string
}

func (e *eventRing) Write(p []byte) (int, error) {
	e.mu.Lock()
	e.partial = append(e.partial, p...)
	for {
		i := bytes.IndexByte(e.partial, '\n')
		if i < 0 {
			break
		}
		e.ring = append(e.ring, string(e.partial[:i]))
		e.partial = e.partial[i+1:]
	}
	if n := len(e.ring); n > e.max {
		e.ring = append(e.ring[:0], e.ring[n-e.max:]...)
	}
	e.mu.Unlock()
	if e.onWrite != nil {
		e.onWrite()
	}
	return len(p), nil
}

func (e *eventRing) lines() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.ring...)
}

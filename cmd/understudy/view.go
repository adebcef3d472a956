package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

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
	in     *os.File // the terminal the keys come from, or nil for no keys
	ctl    *control
	events *eventRing
	tails  *outputTails // the last lines of output per child, for the keys' output pane
	began  time.Time

	mu     sync.Mutex
	tree   *supervision.Tree
	status string
	last   []childStatus // the last rows drawn

	// The keys (keys.go).
	sel        string // the selected child's path
	showOutput bool   // the output pane shows the selected child's output
	confirm    string // a kill of this child waits for y or n
	busy       string // the operation under way
	footer     string // the outcome of the last operation
	restore    func() // puts the terminal back as it was
	actions    sync.WaitGroup

	kick    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
}

// newLiveView makes a view drawn on out; when in is a terminal too, its
// keys act on the tree.
func newLiveView(out io.Writer, in io.Reader, ctl *control) *liveView {
	v := &liveView{out: out, ctl: ctl, tails: &outputTails{}, began: time.Now(), kick: make(chan struct{}, 1), status: "starting"}
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		v.in = f
	}
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
	if v.in != nil {
		if err := v.keys(ctx, v.in); err != nil {
			v.footer = "no keys: " + err.Error()
			v.in = nil
		}
	}
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
	v.actions.Wait()
	if v.restore != nil {
		v.restore()
	}
	v.mu.Lock()
	v.in = nil // the last frame shows no keys: they are gone
	v.mu.Unlock()
	v.draw(context.Background())
	fmt.Fprint(v.out, "\x1b[?25h")
}

func (v *liveView) draw(ctx context.Context) {
	v.mu.Lock()
	t, status, keys := v.tree, v.status, v.in != nil
	v.mu.Unlock()
	rows := v.lastRows()
	if t != nil {
		select {
		case <-t.Done():
			// The tree has ended: what was last seen, how each child
			// ended (its stop, from the events), and that it is over.
			ended := make([]childStatus, len(rows))
			for i, r := range rows {
				ended[i] = v.ctl.stale(r, "ended")
			}
			rows = ended
		default:
			if ctx.Err() == nil {
				_, f := v.ctl.current()
				v.ctl.mu.Lock()
				stopping := v.ctl.state == "stopping"
				v.ctl.mu.Unlock()
				now, ok := v.ctl.snapshot(ctx, t, f)
				switch {
				case stopping:
					rows = v.keepGone(rows, now)
				case ok:
					rows = now
				}
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
	_, f := v.ctl.current()
	line(fmt.Sprintf("understudy  %s  up %v  %s", f.Path, time.Since(v.began).Round(time.Second), status))
	v.ctl.mu.Lock()
	metrics, socket, web := v.ctl.metrics, v.ctl.socket, v.ctl.web
	v.ctl.mu.Unlock()
	var where []string
	if web != "" {
		where = append(where, "web "+web)
	}
	if metrics != "" {
		where = append(where, "metrics "+metrics)
	}
	if socket != "" {
		where = append(where, "control "+socket)
	}
	line(strings.Join(where, "  "))
	line(fmt.Sprintf("%-28s %-11s %8s %-14s %8s  %-32s %s", "CHILD", "STATE", "PID", "SPARES", "RESTARTS", "LAST EXIT", "HEARTBEAT"))
	v.mu.Lock()
	sel := -1
	if keys {
		sel = v.selectedLocked()
	}
	showOutput, confirm, busy, footer := v.showOutput, v.confirm, v.busy, v.footer
	v.mu.Unlock()
	var selected *childStatus
	if sel >= 0 && sel < len(rows) {
		selected = &rows[sel]
	}
	below := 6 + viewEvents // lines under and above the rows
	if keys {
		below += 2
	}
	if room := height - below; room > 1 && len(rows) > room {
		// Show room-1 rows around the selection and a line for the rest.
		from := 0
		if sel >= room-1 {
			from = sel - (room - 2)
		}
		hidden := len(rows) - (room - 1)
		rows = append(rows[from:from+room-1:from+room-1], childStatus{Path: fmt.Sprintf("/… %d more", hidden)})
		sel -= from
	}
	for i, r := range rows {
		name := strings.Repeat("  ", r.Depth) + r.Path[strings.LastIndexByte(r.Path, '/')+1:]
		if r.Supervisor {
			name += "/"
		}
		pid, spares, last, hb := "-", "-", "-", "-"
		if r.Pid != 0 {
			pid = fmt.Sprint(r.Pid)
		}
		if len(r.Spares) > 0 {
			s := make([]string, len(r.Spares))
			for i, p := range r.Spares {
				s[i] = fmt.Sprint(p)
			}
			spares = strings.Join(s, ",")
		}
		if r.LastExit != "" {
			last = r.LastExit
		}
		if r.Heartbeat != nil {
			hb = secs(*r.Heartbeat).Round(time.Millisecond).String()
		}
		row := fmt.Sprintf("%-28s %-11s %8s %-14s %8d  %-32s %s", name, r.State, pid, spares, r.Restarts, last, hb)
		if i == sel {
			b.WriteString("\x1b[7m") // the selection in reverse video
			line(row)
			b.WriteString("\x1b[0m")
			continue
		}
		line(row)
	}
	line("")
	if showOutput && selected != nil {
		title, out := v.outputLines(*selected, max(viewEvents, height-below-len(rows)+viewEvents))
		line(title + ":")
		for _, l := range out {
			line("  " + l)
		}
	} else {
		line("latest events:")
		for _, e := range v.events.lines() {
			line("  " + e)
		}
	}
	if keys {
		line("")
		switch {
		case confirm != "":
			line(fmt.Sprintf("kill %s with SIGKILL? y/n", confirm))
		case busy != "":
			line(keyHelp + "  | " + busy + " …")
		case footer != "":
			line(keyHelp + "  | " + footer)
		default:
			line(keyHelp)
		}
	}
	b.WriteString("\x1b[J")
	_, _ = v.out.Write(b.Bytes())
}

// keepGone merges a snapshot taken while the tree stops into the rows
// drawn before: a child that no supervisor answers for any more (it was
// stopped, or its supervisor was) keeps its row, with how it stopped, so
// the last frame shows every child's stop.
func (v *liveView) keepGone(before, now []childStatus) []childStatus {
	fresh := make(map[string]childStatus, len(now))
	for _, r := range now {
		fresh[r.Path] = r
	}
	out := make([]childStatus, 0, len(before)+len(now))
	seen := make(map[string]bool, len(before))
	for _, r := range before {
		seen[r.Path] = true
		if n, ok := fresh[r.Path]; ok {
			out = append(out, n)
		} else {
			out = append(out, v.ctl.stale(r, "stopped"))
		}
	}
	for _, r := range now {
		if !seen[r.Path] {
			out = append(out, r)
		}
	}
	return out
}

func (v *liveView) lastRows() []childStatus {
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

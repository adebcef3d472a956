package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/understudy/understudy/procbridge"
)

// The live view's keys, when it runs on a terminal: the arrows (or j and
// k) move a selection through the rows; r, s, S and K restart, stop,
// start and kill the selected child through the same control code as
// `understudy ctl` and the web page (control.act); Enter or o shows its
// last lines of output; q quits as Ctrl-C does, by a SIGINT to the
// runner itself. K is upper case because k moves up, and asks y/n first.

const (
	keyPoll      = 200 * time.Millisecond // how often the key reader looks whether the view stopped
	keyHelp      = "keys: ↑/↓ j/k select  r restart  s stop  S start  K kill  o/Enter output  q quit"
	tailLines    = 200  // lines of output kept per child
	tailChildren = 4096 // children whose output is kept at most
)

// keys starts reading in (a terminal, in key mode until stop).
func (v *liveView) keys(ctx context.Context, in *os.File) error {
	restore, err := keyMode(in)
	if err != nil {
		return err
	}
	v.restore = restore
	v.actions.Add(1)
	go func() {
		defer v.actions.Done()
		readKeys(ctx, in, func(b []byte) { v.press(ctx, b) })
	}()
	return nil
}

// press acts on the keys in b.
func (v *liveView) press(ctx context.Context, b []byte) {
	for len(b) > 0 {
		key := string(b[:1])
		switch {
		case len(b) >= 3 && b[0] == 0x1b && (b[1] == '[' || b[1] == 'O') && (b[2] == 'A' || b[2] == 'B'):
			key = map[byte]string{'A': "up", 'B': "down"}[b[2]]
			b = b[3:]
		case len(b) >= 2 && b[0] == 0x1b && b[1] == '[':
			// Another sequence (a function key): skip up to its final byte.
			i := 2
			for i < len(b) && (b[i] < 0x40 || b[i] > 0x7e) {
				i++
			}
			b = b[min(i+1, len(b)):]
			continue
		default:
			b = b[1:]
		}
		v.key(ctx, key)
	}
	v.redrawSoon()
}

// key acts on one key.
func (v *liveView) key(ctx context.Context, key string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.confirm != "" {
		path := v.confirm
		v.confirm = ""
		if key == "y" || key == "Y" {
			v.actLocked(ctx, "kill", path)
		} else {
			v.footer = "kill " + path + ": not sent"
		}
		return
	}
	switch key {
	case "up", "k":
		v.moveLocked(-1)
	case "down", "j":
		v.moveLocked(+1)
	case "r":
		v.actLocked(ctx, "restart", v.sel)
	case "s":
		v.actLocked(ctx, "stop", v.sel)
	case "S":
		v.actLocked(ctx, "start", v.sel)
	case "K":
		if v.sel == "" {
			v.footer = "no child selected"
			return
		}
		v.confirm = v.sel
	case "o", "\r", "\n":
		v.showOutput = !v.showOutput
	case "\x1b":
		v.showOutput = false
	case "q":
		v.footer = "quitting: stopping the tree (q or Ctrl-C again kills at once)"
		if self, err := os.FindProcess(os.Getpid()); err == nil {
			_ = self.Signal(os.Interrupt)
		}
	}
}

// moveLocked moves the selection by d rows.
func (v *liveView) moveLocked(d int) {
	if len(v.last) == 0 {
		return
	}
	i := v.selectedLocked() + d
	i = max(0, min(i, len(v.last)-1))
	v.sel = v.last[i].Path
}

// selectedLocked is the index of the selected row in v.last: the row of
// v.sel, or the first row when it is gone (and the selection moves there).
func (v *liveView) selectedLocked() int {
	for i, r := range v.last {
		if r.Path == v.sel {
			return i
		}
	}
	if len(v.last) > 0 {
		v.sel = v.last[0].Path
	}
	return 0
}

// actLocked runs op on the child at path, one operation at a time, and
// puts its outcome in the footer.
func (v *liveView) actLocked(ctx context.Context, op, path string) {
	switch {
	case path == "":
		v.footer = "no child selected"
		return
	case v.busy != "":
		v.footer = v.busy + ": still waiting for it"
		return
	}
	v.busy = op + " " + path
	v.footer = v.busy + " …"
	v.actions.Add(1)
	go func() {
		defer v.actions.Done()
		res, err := v.ctl.act(ctx, op, path, "")
		msg := op + " " + path + ": "
		var he *httpError
		switch {
		case errors.As(err, &he):
			msg += "refused: " + he.msg
		case err != nil:
			msg += "refused: " + err.Error()
		case res.Pid != 0:
			msg += fmt.Sprintf("%s (pid %d)", res.Did, res.Pid)
		default:
			msg += res.Did
		}
		v.mu.Lock()
		v.busy, v.footer = "", msg
		v.mu.Unlock()
		v.redrawSoon()
	}()
}

// outputLines is what the output pane shows for the child at row r.
func (v *liveView) outputLines(r childStatus, n int) (title string, lines []string) {
	if r.Supervisor {
		return "output of " + r.Path, []string{"  a supervisor has no output of its own"}
	}
	_, f := v.ctl.current()
	names := strings.Split(r.Path, "/")[1:] // its names below the root
	cs := childSpec(supervisorSpec(f.Tree, names[:len(names)-1]), names[len(names)-1])
	if cs == nil || cs.Process == nil || cs.Process.Stdout != procbridge.Lines && cs.Process.Stderr != procbridge.Lines {
		return "output of " + r.Path, []string{"  its output is not captured: the view keeps the lines of a child whose stdout or stderr is \"lines\""}
	}
	lines = v.tails.last(r.Path, n)
	if len(lines) == 0 {
		lines = []string{"  (no output yet)"}
	}
	return fmt.Sprintf("output of %s (its last %d lines; o or Esc closes)", r.Path, len(lines)), lines
}

// outputTails keeps the last lines of output of each child whose stdout
// or stderr is "lines": the records "output" the tree logs (see
// supervision.Options.Logger), by the child's actor path.
type outputTails struct {
	mu   sync.Mutex
	kept map[string][]string
}

func (o *outputTails) add(path, stream, line string) {
	if stream == "stderr" {
		line = "[stderr] " + line
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.kept == nil {
		o.kept = map[string][]string{}
	}
	if _, ok := o.kept[path]; !ok && len(o.kept) >= tailChildren {
		for k := range o.kept {
			delete(o.kept, k)
			if len(o.kept) < tailChildren/2 {
				break
			}
		}
	}
	l := append(o.kept[path], line)
	if len(l) > tailLines {
		l = append(l[:0], l[len(l)-tailLines:]...)
	}
	o.kept[path] = l
}

// last returns the last n lines of the child at path.
func (o *outputTails) last(path string, n int) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.kept[path]
	return append([]string(nil), l[max(0, len(l)-n):]...)
}

// tailHandler hands every record on to next and keeps the lines of
// output in tails, whatever the log level.
type tailHandler struct {
	next  slog.Handler
	tails *outputTails
}

func (h tailHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l == slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h tailHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "output" && r.Level == slog.LevelInfo {
		var sup, child, stream, line string
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "supervisor":
				sup = a.Value.String()
			case "child":
				child = a.Value.String()
			case "stream":
				stream = a.Value.String()
			case "line":
				line = a.Value.String()
			}
			return true
		})
		if sup != "" && child != "" {
			h.tails.add(sup+"/"+child, stream, line)
		}
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h tailHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return tailHandler{h.next.WithAttrs(as), h.tails}
}

func (h tailHandler) WithGroup(name string) slog.Handler {
	return tailHandler{h.next.WithGroup(name), h.tails}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

const ctlUsage = `Usage: understudy ctl [--socket PATH] [--json] COMMAND [ARGS]

Acts on a tree that understudy run runs, through its control socket. A
CHILD is named by its path from the root: "sleeper", "jobs/fetch" (the
root's name may lead: "demo/jobs/fetch").

Commands:
  status              every child: state, pid, spares, restarts, uptime,
                      heartbeat age and how it last ended
  restart CHILD       stop the child within its shutdown policy, start it again
  stop CHILD          stop it; it stays stopped until start
  start CHILD         start a stopped child
  kill CHILD          SIGKILL its process: its supervisor reacts as to a crash
  signal CHILD SIG    send SIG (TERM, HUP, USR1, a number...) to its process
  events              follow the tree's events until Ctrl-C or the tree ends
  reload              re-read the tree's file, print the difference and apply
                      it: start what is new, stop what is gone, restart what
                      changed, leave the rest running

Flags:
  --socket PATH   the control socket (default: the one socket served
                  where understudy run serves it by default:
                  $XDG_RUNTIME_DIR/understudy, or without $XDG_RUNTIME_DIR
                  /run/understudy for root; understudy run logs its path)
  --json          print the answer as JSON (events: one object a line)

Examples:
  understudy ctl status
  understudy ctl restart jobs/fetch
  understudy ctl signal web HUP
  understudy ctl --socket ./tree.sock --json status
  curl --unix-socket ./tree.sock http://understudy/v1/status

Exit status: 0 done, 1 refused (the reason is printed), 2 usage, 3 no
tree answers on the socket.
`

// ctlTimeout bounds a request that does not follow events: a restart
// waits for the child to be ready, as long as its ready timeout.
const ctlTimeout = 10 * time.Minute

func ctlCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	socket := fs.String("socket", "", "")
	asJSON := fs.Bool("json", false, "")
	// Flags may come anywhere: gather the other words in order.
	var words []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, ctlUsage)
			return exitOK
		}
		if err != nil {
			fmt.Fprintf(stderr, "understudy ctl: %v\n\n%s", err, ctlUsage)
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(words) == 0 {
		fmt.Fprintf(stderr, "understudy ctl: no COMMAND\n\n%s", ctlUsage)
		return exitUsage
	}
	want := map[string]int{"status": 0, "events": 0, "reload": 0, "restart": 1, "stop": 1, "start": 1, "kill": 1, "signal": 2}
	cmd, rest := words[0], words[1:]
	n, ok := want[cmd]
	if !ok {
		fmt.Fprintf(stderr, "understudy ctl: no command %q\n\n%s", cmd, ctlUsage)
		return exitUsage
	}
	if len(rest) != n {
		what := map[int]string{0: "no arguments", 1: "one CHILD", 2: "CHILD and SIG"}[n]
		fmt.Fprintf(stderr, "understudy ctl %s: want %s, got %d (%s)\n\n%s", cmd, what, len(rest), strings.Join(rest, " "), ctlUsage)
		return exitUsage
	}
	path := *socket
	if path == "" {
		var err error
		if path, err = findSocket(); err != nil {
			fmt.Fprintf(stderr, "understudy ctl: %v\n", err)
			return exitFailed
		}
	}
	c := &ctlClient{socket: path, stdout: stdout, stderr: stderr, json: *asJSON}
	switch cmd {
	case "status":
		return c.status()
	case "events":
		return c.events()
	case "reload":
		return c.reload()
	}
	q := url.Values{"child": {rest[0]}}
	if cmd == "signal" {
		q.Set("signal", rest[1])
	}
	return c.act(cmd, q)
}

// findSocket finds the control socket when --socket is not given: the
// only one served in socketDir, where `understudy run` serves it.
func findSocket() (string, error) {
	dir, rule := socketDir()
	pattern := filepath.Join(dir, "*.sock")
	if err := privateDir(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("no tree's socket: looked for %s (%s), and %s does not exist: is understudy run running? (or pass --socket PATH)", pattern, rule, dir)
		}
		return "", fmt.Errorf("looked for %s (%s): %v: pass --socket PATH", pattern, rule, err)
	}
	all, _ := filepath.Glob(pattern)
	var found, stale []string
	for _, p := range all {
		// A tree killed by SIGKILL leaves its socket behind: skip those
		// that nothing serves.
		if c, err := net.DialTimeout("unix", p, time.Second); err == nil {
			c.Close()
			found = append(found, p)
		} else {
			stale = append(stale, p)
		}
	}
	switch len(found) {
	case 0:
		msg := fmt.Sprintf("no tree's socket: looked for %s (%s)", pattern, rule)
		if len(stale) > 0 {
			msg += ", where nothing serves " + strings.Join(stale, ", ")
		}
		return "", fmt.Errorf("%s: is understudy run running? (or pass --socket PATH)", msg)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%d trees serve sockets in %s: pass --socket with one of %s", len(found), dir, strings.Join(found, ", "))
}

// ctlClient speaks to the control socket.
type ctlClient struct {
	socket         string
	stdout, stderr io.Writer
	json           bool
}

func (c *ctlClient) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.socket)
		},
	}}
}

// do sends one request; on a refusal it prints the reason and returns
// the exit status to end with.
func (c *ctlClient) do(ctx context.Context, method, path string, q url.Values) (*http.Response, int) {
	u := "http://understudy" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		fmt.Fprintf(c.stderr, "understudy ctl: %v\n", err)
		return nil, exitUsage
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		fmt.Fprintf(c.stderr, "understudy ctl: no tree answers on %s: %v\n", c.socket, unwrapURL(err))
		return nil, exitFailed
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct{ Error string }
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(body))
		}
		if c.json {
			c.stdout.Write(body)
		}
		fmt.Fprintf(c.stderr, "understudy ctl: %s\n", e.Error)
		return nil, exitInvalid
	}
	return resp, exitOK
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// get sends one request and decodes its JSON answer into v, or, with
// --json, copies it to stdout.
func (c *ctlClient) get(method, path string, q url.Values, v any) (status int, printed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	resp, status := c.do(ctx, method, path, q)
	if resp == nil {
		return status, true
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintf(c.stderr, "understudy ctl: reading the answer: %v\n", err)
		return exitFailed, true
	}
	if c.json {
		c.stdout.Write(body)
		return exitOK, true
	}
	if err := json.Unmarshal(body, v); err != nil {
		fmt.Fprintf(c.stderr, "understudy ctl: the answer: %v\n", err)
		return exitFailed, true
	}
	return exitOK, false
}

func (c *ctlClient) status() int {
	var st treeStatus
	if status, printed := c.get(http.MethodGet, "/v1/status", nil, &st); printed {
		return status
	}
	fmt.Fprint(c.stdout, formatStatus(st))
	return exitOK
}

// formatStatus writes the tree as a table.
func formatStatus(st treeStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  pid %d  %s  up %v\n", st.Name, st.File, st.Pid, st.State, secs(st.Uptime).Round(time.Second))
	if st.Metrics != "" {
		fmt.Fprintf(&b, "metrics %s\n", st.Metrics)
	}
	if st.Web != "" {
		fmt.Fprintf(&b, "web %s\n", st.Web)
	}
	// A NODE column when a child runs on another machine: its pid is
	// one there.
	nodes := slices.ContainsFunc(st.Children, func(r childStatus) bool { return r.Node != "" })
	node := func(v string) string {
		if !nodes {
			return ""
		}
		return fmt.Sprintf(" %-8s", v)
	}
	fmt.Fprintf(&b, "%-28s %-11s %8s%s %-14s %8s %9s %9s  %s\n", "CHILD", "STATE", "PID", node("NODE"), "SPARES", "RESTARTS", "UPTIME", "HEARTBEAT", "LAST EXIT")
	for _, r := range st.Children {
		name := strings.Repeat("  ", r.Depth) + r.Path[strings.LastIndexByte(r.Path, '/')+1:]
		if r.Supervisor {
			name += "/"
		}
		pid, spares, up, hb, last := "-", "-", "-", "-", "-"
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
		if r.Uptime != nil {
			up = shortDuration(secs(*r.Uptime))
		}
		if r.Heartbeat != nil {
			hb = secs(*r.Heartbeat).Round(time.Millisecond).String()
		}
		if r.LastExit != "" {
			last = r.LastExit
		}
		where := r.Node
		if where == "" {
			where = "-"
		}
		fmt.Fprintf(&b, "%-28s %-11s %8s%s %-14s %8d %9s %9s  %s\n", name, r.State, pid, node(where), spares, r.Restarts, up, hb, last)
	}
	return b.String()
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// shortDuration rounds d to what a person reads: 850ms, 42s, 3m12s, 5h4m.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

func (c *ctlClient) act(op string, q url.Values) int {
	var res actResult
	if status, printed := c.get(http.MethodPost, "/v1/"+op, q, &res); printed {
		return status
	}
	line := res.Child + ": " + res.Did
	if res.Pid != 0 {
		if op == "kill" || op == "signal" {
			line += fmt.Sprintf(" to pid %d", res.Pid)
		} else {
			line += fmt.Sprintf(", pid %d", res.Pid)
		}
	}
	fmt.Fprintln(c.stdout, line)
	return exitOK
}

func (c *ctlClient) reload() int {
	var rep reloadReport
	if status, printed := c.get(http.MethodPost, "/v1/reload", nil, &rep); printed {
		return status
	}
	fmt.Fprint(c.stdout, rep.String())
	if len(rep.Failed) > 0 {
		return exitInvalid
	}
	return exitOK
}

// events follows the events until SIGINT or SIGTERM, or the tree's end.
func (c *ctlClient) events() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	resp, status := c.do(ctx, http.MethodGet, "/v1/events", nil)
	if resp == nil {
		return status
	}
	defer resp.Body.Close()
	fmt.Fprintf(c.stderr, "understudy ctl: following the events of %s (Ctrl-C ends)\n", c.socket)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if c.json {
			fmt.Fprintf(c.stdout, "%s\n", sc.Bytes())
			continue
		}
		var r eventRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		fmt.Fprintf(c.stdout, "%s %s\n", r.Time.Local().Format("15:04:05.000"), r.Text)
	}
	if ctx.Err() != nil {
		return exitOK // Ctrl-C
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		fmt.Fprintf(c.stderr, "understudy ctl: events: %v\n", err)
		return exitFailed
	}
	fmt.Fprintln(c.stderr, "understudy ctl: the tree has ended")
	return exitOK
}

//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/actors"
	"github.com/understudy/understudy/internal/cluster"
	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/testproc"
)

// envCLI makes the test binary, re-executed, run as the understudy command
// (the way os/exec's tests re-execute theirs as helpers); workers the
// command starts re-execute it again and land in worker.Main.
const envCLI = "UNDERSTUDY_TEST_CLI"

// envHoldReady names a child whose readiness the command, re-executed,
// reports to its supervisor only after the child's failure (see
// actors.HoldReady).
const envHoldReady = "UNDERSTUDY_TEST_HOLD_READY"

func TestMain(m *testing.M) {
	testproc.Run(m, cluster.KeeperMain, func() {
		if os.Getenv(envCLI) == "1" {
			if name := os.Getenv(envHoldReady); name != "" {
				actors.HoldReady = func(child string) bool { return child == name }
			}
			os.Exit(cli(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		}
	})
}

// deadline bounds every wait of these tests; nothing waits for it unless
// something is wrong.
const deadline = testproc.Deadline

// writeSpec writes a spec file into a temporary directory.
func writeSpec(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tree.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o644))
	return path
}

// runCLI runs the command in this process.
func runCLI(t *testing.T, stdin string, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	status = cli(args, strings.NewReader(stdin), &out, &errb)
	return status, out.String(), errb.String()
}

// record is one JSON log record of `understudy run`.
type record map[string]any

func (r record) str(key string) string {
	v, _ := r[key].(string)
	return v
}

func (r record) int(key string) int {
	v, _ := r[key].(float64)
	return int(v)
}

// runProc is `understudy run` in a process of its own: the test binary,
// re-executed as the command.
type runProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	records chan record
	done    chan struct{} // closed when stderr is drained
	seen    []record      // records read from records, in order
	taken   map[int]bool  // indexes of seen that waitFor returned

	mu     sync.Mutex
	stderr bytes.Buffer // everything it wrote to stderr
	stdout *bytes.Buffer
	wrote  chan struct{} // nudged on every write to stdout
}

// startRun starts `understudy run --ui logs --log-format json` on the spec.
func startRun(t *testing.T, spec string, flags ...string) *runProc {
	t.Helper()
	args := append([]string{"run", "--ui", "logs", "--log-format", "json"}, flags...)
	return startCLI(t, append(args, writeSpec(t, spec))...)
}

// cliEnv is the test's environment for the command re-executed as
// understudy, with env added: NAME=VALUE sets NAME, a bare NAME unsets it.
func cliEnv(env ...string) []string {
	out := append(os.Environ(), envCLI+"=1")
	for _, kv := range env {
		if strings.Contains(kv, "=") {
			out = append(out, kv)
			continue
		}
		out = slices.DeleteFunc(out, func(e string) bool { return strings.HasPrefix(e, kv+"=") })
	}
	return out
}

func startCLI(t *testing.T, args ...string) *runProc {
	t.Helper()
	return startCLIEnv(t, nil, args...)
}

// startCLIEnv is startCLI with env added to the command's environment
// (see cliEnv). Its $XDG_RUNTIME_DIR is a directory of the test's own
// unless env sets it, so that a tree serving its default control socket
// meets no other.
func startCLIEnv(t *testing.T, env []string, args ...string) *runProc {
	t.Helper()
	runtime, err := os.MkdirTemp("", "xdg")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(runtime) })
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = cliEnv(append([]string{"XDG_RUNTIME_DIR=" + runtime}, env...)...)
	p := &runProc{t: t, cmd: cmd, records: make(chan record, 4096), done: make(chan struct{}), stdout: &bytes.Buffer{}, wrote: make(chan struct{}, 1), taken: map[int]bool{}}
	cmd.Stdout = &notifyWriter{p: p}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		defer close(p.done)
		defer close(p.records)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.mu.Lock()
			p.stderr.Write(line)
			p.stderr.WriteByte('\n')
			p.mu.Unlock()
			var r record
			if json.Unmarshal(line, &r) == nil {
				p.records <- r
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
			_ = cmd.Wait()
		}
	})
	return p
}

// notifyWriter keeps the command's stdout and nudges p.wrote.
type notifyWriter struct{ p *runProc }

func (w *notifyWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	w.p.stdout.Write(b)
	w.p.mu.Unlock()
	select {
	case w.p.wrote <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (p *runProc) transcript() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *runProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// waitFor returns the first record, since the command started, that
// match accepts and that no earlier waitFor returned; it waits for one if
// there is none yet.
func (p *runProc) waitFor(what string, match func(record) bool) record {
	p.t.Helper()
	for i, r := range p.seen {
		if !p.taken[i] && match(r) {
			p.taken[i] = true
			return r
		}
	}
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		select {
		case r, ok := <-p.records:
			if !ok {
				p.t.Fatalf("understudy ended before %s:\n%s", what, p.transcript())
			}
			p.seen = append(p.seen, r)
			if match(r) {
				p.taken[len(p.seen)-1] = true
				return r
			}
		case <-timer.C:
			p.t.Fatalf("no %s within %v:\n%s", what, deadline, p.transcript())
		}
	}
}

// msg matches a record by message and, if given, child.
func msg(m, child string) func(record) bool {
	return func(r record) bool { return r.str("msg") == m && (child == "" || r.str("child") == child) }
}

func (p *runProc) signal(sig os.Signal) {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(sig))
}

// wait waits for the command to exit and returns its status.
func (p *runProc) wait() int {
	p.t.Helper()
	exited := make(chan error, 1)
	go func() {
		<-p.done
		exited <- p.cmd.Wait()
	}()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		require.NoError(p.t, err)
		return 0
	case <-time.After(deadline):
		_ = p.cmd.Process.Kill()
		<-exited
		p.t.Fatalf("understudy did not exit within %v:\n%s", deadline, p.transcript())
		return -1
	}
}

func TestHelp(t *testing.T) {
	for _, c := range []string{"check", "run", "render"} {
		for _, args := range [][]string{{c, "--help"}, {c, "-h"}, {"help", c}} {
			status, out, _ := runCLI(t, "", args...)
			assert.Equal(t, exitOK, status, args)
			assert.Contains(t, out, "Usage: understudy "+c, args)
			assert.Contains(t, out, "Examples:", args)
		}
	}
	status, out, _ := runCLI(t, "", "--help")
	assert.Equal(t, exitOK, status)
	assert.Contains(t, out, "understudy run    [flags] FILE")

	status, _, errOut := runCLI(t, "")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, errOut, "Usage:")
	status, _, errOut = runCLI(t, "", "frobnicate")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, errOut, `understudy: no command "frobnicate"`)
	status, _, errOut = runCLI(t, "", "check")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, errOut, "understudy check: no FILE")
	status, _, errOut = runCLI(t, "", "check", "a.yaml", "b.yaml")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, errOut, "understudy check: one FILE, not 2 (a.yaml b.yaml)")
	status, _, errOut = runCLI(t, "", "run", "--bogus", "a.yaml")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, errOut, "understudy run: flag provided but not defined: -bogus")
	status, _, errOut = runCLI(t, "", "run", "--ui", "fancy", "a.yaml")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, errOut, `understudy run: --ui "fancy": want auto, live or logs`)
	status, out, _ = runCLI(t, "", "version")
	assert.Equal(t, exitOK, status)
	assert.True(t, strings.HasPrefix(out, "understudy "), out)
}

func TestNodeUsage(t *testing.T) {
	status, out, _ := runCLI(t, "", "node", "--help")
	assert.Equal(t, exitOK, status)
	assert.Contains(t, out, "Usage: understudy node")
	status, _, errOut := runCLI(t, "", "node")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, errOut, "understudy node: --name: a node needs a name")
	status, _, errOut = runCLI(t, "", "node", "--name", "a", "--listen", "127.0.0.1:http-alt-x")
	assert.Equal(t, exitInvalid, status)
	assert.Contains(t, errOut, `listen address "127.0.0.1:http-alt-x": bad port`)
	status, _, errOut = runCLI(t, "", "node", "--name", "a", "extra")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, errOut, "no arguments, only flags")
}

func TestCheck(t *testing.T) {
	path := writeSpec(t, `
name: app
strategy: one_for_all
intensity: {max_restarts: 3, period: 10s}
children:
  - {name: web, command: sleep, args: [1000], stdout: lines, shutdown: 2s}
  - {name: counter, worker: counter, standby: 1, state_size: 8, heartbeat: {interval: 50ms, timeout: 500ms}}
  - name: pool
    supervisor:
      strategy: simple_one_for_one
      template: {name: conn, command: sh, args: [-c, 'exec sleep "$0"'], restart: temporary}
      instances: [[100], [200]]
audio:
  nodes:
    - {name: osc, kind: sine, params: {freq: 440}, process: light}
    - {name: amp, kind: gain, params: {gain: 0.5}, process: light}
  edges: [osc -> amp]
  output: out.wav
`)
	status, out, errOut := runCLI(t, "", "check", path)
	require.Equal(t, exitOK, status, errOut)
	assert.Empty(t, errOut)
	assert.Equal(t, strings.Join([]string{
		path + ": valid",
		"app  supervisor (one_for_all, at most 3 restarts in 10s)",
		"├── web      sleep 1000 · stdout lines · shutdown 2s",
		"├── counter  worker counter · standby 1 · heartbeat 50ms/500ms · state 8 B",
		"└── pool     supervisor (simple_one_for_one, at most 1 restart in 5s)",
		"    └── conn (template)  sh -c 'exec sleep \"$0\"' · temporary · 2 instances at start",
		"audio  48000 Hz, 128-frame blocks, slack 1, 1 spare per node, 2 nodes, 1 edge, 1s -> " + filepath.Join(filepath.Dir(path), "out.wav"),
		"├── osc  sine (freq=440)  [process light]",
		"└── amp  gain (gain=0.5)  [process light]",
		"",
	}, "\n"), withoutContainment(t, out))

	status, out, _ = runCLI(t, "", "check", "--quiet", path)
	assert.Equal(t, exitOK, status)
	assert.Empty(t, out)

	status, out, _ = runCLI(t, "children: [{name: a, command: sleep}]", "check", "-")
	assert.Equal(t, exitOK, status)
	assert.Equal(t, "<stdin>: valid\nroot  supervisor (one_for_one, at most 1 restart in 5s)\n└── a  sleep\n", withoutContainment(t, out))
}

// withoutContainment checks that check's output ends with the death
// notices, containment, limits and watch lines, which depend on the host,
// and returns the output without them.
func withoutContainment(t *testing.T, out string) string {
	t.Helper()
	i := strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")
	require.Positive(t, i, out)
	assert.Regexp(t, `^watch: a (pidfd per worker, from its fork|pidfd per worker, opened right after its fork|pipe per worker)`, out[i+1:])
	out = out[:i+1]
	i = strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")
	require.Positive(t, i, out)
	assert.Regexp(t, `^limits: (memory_max|cpu_max|pids_max|not applied here)`, out[i+1:])
	out = out[:i+1]
	i = strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")
	require.Positive(t, i, out)
	last := out[i+1:]
	assert.Regexp(t, `^containment: (cgroups \(cgroup v2 at .*\): each worker runs in a cgroup of its own|process groups \(.*\): a worker's children in its process group end with it)`, last)
	j := strings.LastIndex(out[:i], "\n")
	require.Positive(t, j, out)
	assert.Regexp(t, `^death notices: (eBPF \(every worker|the robust futex .*; (no eBPF watch|the eBPF watch is off))`, out[j+1:i])
	return out[:j+1]
}

// TestCheckStatelessStandby: a hot-standby child without state_size is
// valid, with a warning: its spare takes over from zero state.
func TestCheckStatelessStandby(t *testing.T) {
	path := writeSpec(t, `
children:
  - {name: counter, worker: counter, standby: 1}
  - {name: kept, worker: counter, standby: 1, state_size: 8}
  - name: pool
    supervisor:
      strategy: simple_one_for_one
      template: {name: conn, worker: counter, standby: 2}
`)
	status, _, errOut := runCLI(t, "", "check", "--quiet", path)
	assert.Equal(t, exitOK, status, "a warning, not an error")
	assert.Equal(t, path+": children[0]: warning: standby 1 without state_size: a spare that takes over starts from zero state (set state_size to the state the worker commits)\n"+
		path+": children[2].supervisor.template: warning: standby 2 without state_size: a spare that takes over starts from zero state (set state_size to the state the worker commits)\n", errOut)
}

// TestCheckBadInput: every problem is reported, each at its place, and the
// status says so.
func TestCheckBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		file string // written to dir/name.yaml unless it starts with "!"
		want func(path string) string
	}{
		{"missing file", "!nope.yaml", func(p string) string {
			return "spec: read: open " + p + ": no such file or directory\n"
		}},
		{"a directory", "!", func(p string) string { return "spec: read: " + p + ": is a directory\n" }},
		{"empty", "", func(p string) string {
			return p + ": empty file (declare a tree with children:, or an audio: graph; see docs/spec-reference.md)\n"
		}},
		{"invalid", "strategy: one_for_al\nchildren:\n  - {name: a, command: sleep, restrat: transient}\n", func(p string) string {
			return p + ":1:11: strategy: unknown strategy 'one_for_al' (did you mean 'one_for_all'?)\n" +
				p + ":3:31: children[0].restrat: unknown key (did you mean 'restart'?)\n"
		}},
		{"missing executables", "children:\n  - {name: a, command: no-such-program-understudy}\n  - {name: b, command: ./bin/b, dir: ./nowhere}\n", func(p string) string {
			d := filepath.Dir(p)
			return p + ":2:24: children[0].command: executable 'no-such-program-understudy' not found in $PATH\n" +
				p + ":3:24: children[1].command: no executable '" + filepath.Join(d, "bin/b") + "'\n" +
				p + ":3:38: children[1].dir: '" + filepath.Join(d, "nowhere") + "' is not a directory\n"
		}},
		{"audio the audio package rejects", `
audio:
  nodes:
    - {name: osc, kind: sinus, params: {freq: 440}}
    - {name: hi, kind: sine, params: {freq: 30000}}
    - {name: amp, kind: gain}
  edges: [osc:0 -> amp:3, amp -> amp]
`, func(p string) string {
			return p + ":4:25: audio.nodes[0].kind: unknown kind 'sinus' (did you mean 'sine'?)\n" +
				p + ":5:45: audio.nodes[1].params.freq: 30000: node \"hi\" (sine): must be above 0 and below rate/2 = 24000\n" +
				p + ":7:10: audio.edges: the edges form a cycle: amp -> amp (an audio graph flows one way: remove an edge of the cycle)\n" +
				p + ":7:11: audio.edges[0].to.port: 3: node \"amp\" (gain) has inputs 0..0\n"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path string
			if name, ok := strings.CutPrefix(tt.file, "!"); ok {
				path = filepath.Join(dir, name)
				if name == "" {
					path = dir
				}
			} else {
				path = filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
				require.NoError(t, os.WriteFile(path, []byte(tt.file), 0o644))
			}
			status, out, errOut := runCLI(t, "", "check", path)
			assert.Equal(t, exitInvalid, status)
			assert.Empty(t, out)
			assert.Equal(t, tt.want(path), errOut)
		})
	}
}

// TestCheckExample: the example the README runs is valid here.
func TestCheckExample(t *testing.T) {
	status, out, errOut := runCLI(t, "", "check", "../../examples/declarative/tree.yaml")
	require.Equal(t, exitOK, status, errOut)
	assert.Contains(t, out, "counter  worker counter 500ms · standby 1")
}

// TestRunRestartsAKilledChild runs a declared tree of ordinary executables,
// kills a child and reads the restart from the logs, the child's output
// from the logs, the restart count from the metrics, and the stop, in
// reverse order, after SIGTERM.
func TestRunRestartsAKilledChild(t *testing.T) {
	p := startRun(t, `
children:
  - {name: a, command: sleep, args: [1000]}
  - name: b
    command: sh
    args: [-c, 'echo "hello from b"; exec sleep 1000']
    stdout: lines
`, "--metrics", "127.0.0.1:0")
	url := p.waitFor("the metrics address", msg("serving metrics", "")).str("url")
	first := p.waitFor("a ready", msg("child ready", "a")).int("pid")
	require.NotZero(t, first)
	p.waitFor("b's output", func(r record) bool {
		return r.str("msg") == "output" && r.str("line") == "hello from b" && r.str("supervisor") == "root" && r.str("child") == "b"
	})
	p.waitFor("the tree up", msg("the tree is up", ""))

	require.NoError(t, syscall.Kill(first, syscall.SIGKILL))
	exited := p.waitFor("a's exit", msg("child exited", "a"))
	assert.Equal(t, "killed by SIGKILL", exited.str("exit"))
	assert.Equal(t, "WARN", exited.str("level"))
	p.waitFor("a restarting", msg("child restarting", "a"))
	second := p.waitFor("a ready again", msg("child ready", "a"))
	assert.NotEqual(t, first, second.int("pid"))
	assert.Equal(t, 2, second.int("incarnation"))

	body := httpGet(t, url)
	assert.Contains(t, body, `understudy_child_restarts_total{child="a",supervisor="root"} 1`)
	assert.Contains(t, body, `understudy_child_exits_total{child="a",kind="signal",supervisor="root"} 1`)
	assert.Contains(t, body, "go_goroutines")

	p.signal(syscall.SIGTERM)
	p.waitFor("the stop", msg("stopping the tree in reverse start order; signal again to kill at once", ""))
	stopB := p.waitFor("b stopped", msg("child stopped", ""))
	assert.Equal(t, "b", stopB.str("child"), "the last started stops first")
	p.waitFor("a stopped", msg("child stopped", "a"))
	p.waitFor("the end", msg("stopped cleanly", ""))
	assert.Equal(t, exitOK, p.wait())
	assert.Contains(t, p.transcript(), "understudy: stopped cleanly\n")
	testproc.WaitGone(t, second.int("pid"))
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	out, err := exec.CommandContext(ctx, "curl", "-sf", url).Output()
	if errors.Is(err, exec.ErrNotFound) {
		t.Skip("no curl")
	}
	require.NoError(t, err)
	return string(out)
}

// stubbornChild is a child that ignores SIGTERM, says "trapped" once it
// does, and has a minute to stop.
const stubbornChild = `  - name: stubborn
    command: sh
    args: [-c, 'trap "" TERM; echo trapped; while :; do sleep 1; done']
    stdout: lines
    shutdown: 1m
`

// TestRunMetricsWhatIs: the runner's metrics say what is before anything
// happened: each child's state and restarts at zero, a beating child's
// heartbeat age, a hot-standby child's spares ready.
func TestRunMetricsWhatIs(t *testing.T) {
	p := startRun(t, `
children:
  - {name: a, command: sleep, args: [1000]}
  - {name: w, worker: beat, heartbeat: {interval: 10ms, timeout: 1s}}
  - {name: hot, worker: counter, standby: 1, state_size: 8}
`, "--metrics", "127.0.0.1:0")
	url := p.waitFor("the metrics address", msg("serving metrics", "")).str("url")
	p.waitFor("the tree up", msg("the tree is up", ""))
	body := httpGet(t, url)
	for _, want := range []string{
		`understudy_child_state{child="a",state="running",supervisor="root"} 1`,
		`understudy_child_state{child="a",state="restarting",supervisor="root"} 0`,
		`understudy_child_restarts_total{child="a",supervisor="root"} 0`,
		`understudy_child_spares_ready{child="hot",supervisor="root"} 1`,
		`understudy_child_failovers_total{child="hot",kind="failover",supervisor="root"} 0`,
		`understudy_child_heartbeat_age_seconds{child="w",supervisor="root"} `,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, `understudy_child_heartbeat_age_seconds{child="a"`, "a child that does not beat has no age")
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait(), p.transcript())
}

// TestRunSecondSignal: a child that ignores SIGTERM has a minute to stop;
// a second SIGINT kills it at once, and understudy says so.
func TestRunSecondSignal(t *testing.T) {
	p := startRun(t, "children:\n"+stubbornChild)
	pid := p.waitFor("stubborn ready", msg("child ready", "stubborn")).int("pid")
	p.waitFor("the trap", func(r record) bool { return r.str("line") == "trapped" })
	p.waitFor("the tree up", msg("the tree is up", ""))
	p.signal(syscall.SIGINT)
	p.waitFor("the stop", msg("stopping the tree in reverse start order; signal again to kill at once", ""))
	killAtSecondSignal(t, p, pid, "understudy: killed at once on a second signal (interrupt)\n")
}

// TestRunSecondSignalKillsSpares: the kill at once takes the parked spares
// of hot-standby children too, which no event names.
func TestRunSecondSignalKillsSpares(t *testing.T) {
	p := startRun(t, "children:\n  - {name: counter, worker: counter, standby: 1, state_size: 8}\n"+stubbornChild)
	primary := p.waitFor("counter ready", msg("child ready", "counter")).int("pid")
	p.waitFor("the trap", func(r record) bool { return r.str("line") == "trapped" })
	p.waitFor("the tree up", msg("the tree is up", ""))
	// Every child of the runner now: the counter's primary and spare, and sh.
	kids := childPids(p.cmd.Process.Pid)
	require.Len(t, kids, 3, "primary, spare, stubborn")
	p.signal(syscall.SIGINT)
	p.waitFor("the stop", msg("stopping the tree in reverse start order; signal again to kill at once", ""))
	p.signal(syscall.SIGINT)
	p.waitFor("the kill", msg("second signal: killed every process at once", ""))
	assert.Equal(t, exitKilledAt, p.wait())
	assert.Contains(t, kids, primary)
	for _, pid := range kids { // the primary, its spare and sh
		testproc.WaitGone(t, pid)
	}
}

// TestRunSecondSignalWhileStarting: a signal while the tree starts stops
// what had started, each child within its shutdown policy; a second one
// kills at once.
func TestRunSecondSignalWhileStarting(t *testing.T) {
	p := startRun(t, "children:\n"+stubbornChild+"  - {name: mute, command: sleep, args: [1000], sdk: true, ready_timeout: 10m}\n")
	pid := p.waitFor("stubborn ready", msg("child ready", "stubborn")).int("pid")
	p.waitFor("the trap", func(r record) bool { return r.str("line") == "trapped" })
	p.waitFor("mute started", msg("child started", "mute"))
	p.signal(syscall.SIGINT)
	p.waitFor("the stop", msg("interrupted while starting: stopping what started; signal again to kill at once", ""))
	killAtSecondSignal(t, p, pid, "understudy: interrupted while starting; killed at once on a second signal\n")
}

// killAtSecondSignal sends the second SIGINT to a runner stopping a
// stubborn child (pid), which has a minute of grace, and checks that it
// was killed at once, as the runner's last words (said) tell.
func killAtSecondSignal(t *testing.T, p *runProc, pid int, said string) {
	t.Helper()
	began := time.Now()
	p.signal(syscall.SIGINT)
	p.waitFor("the kill", msg("second signal: killed every process at once", ""))
	assert.Equal(t, exitKilledAt, p.wait())
	assert.Less(t, time.Since(began), 30*time.Second, "well within the minute of grace")
	assert.Contains(t, p.transcript(), said)
	testproc.WaitGone(t, pid)
}

// TestRunTreeFails: a child that keeps failing exceeds the root's
// intensity; the tree ends and the status says it failed.
//
// The child exits in its first instant. It has started all the same: a
// program that is not an SDK worker is ready once it was exec'd, and what it
// does next is a failure after its start, counted against the intensity,
// never a failed start. That holds in either order the supervisor may hear
// of the two: its readiness first (the usual order), or its failure first
// (forced here; a busy machine produces it now and then).
func TestRunTreeFails(t *testing.T) {
	for _, order := range []struct{ name, hold string }{{"ready first", ""}, {"failure first", "bad"}} {
		t.Run(order.name, func(t *testing.T) {
			if order.hold != "" {
				t.Setenv(envHoldReady, order.hold)
			}
			p := startRun(t, `
intensity: {max_restarts: 2, period: 1m}
children:
  - {name: ok, command: sleep, args: [1000]}
  - {name: bad, command: sh, args: [-c, 'exit 7'], backoff: none}
`)
			p.waitFor("the give-up", msg("supervisor gave up", ""))
			p.waitFor("the failure", msg("the tree failed", ""))
			assert.Equal(t, exitFailed, p.wait())
			tr := p.transcript()
			assert.Contains(t, tr, "understudy: the tree failed:\n  root gave up: 3 restarts within 1m0s exceed its intensity (2 within 1m0s); the last failure: child \"bad\"\n    process bad (pid ")
			assert.Contains(t, tr, "): exited 7\n")
			assert.NotContains(t, tr, "failed to start")
		})
	}
}

// TestRunStartFails: a child that never gets ready fails the start.
func TestRunStartFails(t *testing.T) {
	p := startRun(t, `
children:
  - {name: first, command: sleep, args: [1000]}
  - {name: mute, command: sleep, args: [1000], sdk: true, ready_timeout: 200ms}
`)
	assert.Equal(t, exitInvalid, p.wait())
	tr := p.transcript()
	assert.Contains(t, tr, "understudy: the tree did not start:\n  root gave up: child \"mute\" failed to start\n")
	assert.Contains(t, tr, `"msg":"child stopped","supervisor":"root","child":"first"`, "what started is stopped")
}

// TestRunRefusesBeforeStarting: a missing executable is reported, at its
// place, before anything starts.
func TestRunRefusesBeforeStarting(t *testing.T) {
	path := writeSpec(t, "children:\n  - {name: a, command: sleep, args: [1000]}\n  - {name: b, command: no-such-program-understudy}\n")
	status, _, errOut := runCLI(t, "", "run", path)
	assert.Equal(t, exitInvalid, status)
	assert.Equal(t, path+":3:24: children[1].command: executable 'no-such-program-understudy' not found in $PATH\n", errOut)

	path = writeSpec(t, "audio: {nodes: [{name: t, kind: testsignal}]}\n")
	status, _, errOut = runCLI(t, "", "run", path)
	assert.Equal(t, exitInvalid, status)
	assert.Equal(t, path+": no tree to run: the file declares only an audio graph (understudy render renders it)\n", errOut)
}

// TestRunInstances: a simple_one_for_one supervisor's instances start with
// the tree, and again when the supervisor is restarted (it comes back
// empty, as in OTP).
func TestRunInstances(t *testing.T) {
	p := startRun(t, `
children:
  - name: pool
    supervisor:
      strategy: simple_one_for_one
      intensity: {max_restarts: 0}
      template:
        name: conn
        command: sh
        args: [-c, 'echo "instance $0"; exec sleep 1000']
        stdout: lines
      instances: [[one], [two]]
`)
	for _, want := range []string{"instance one", "instance two"} {
		p.waitFor(want, func(r record) bool { return r.str("line") == want })
	}
	pid := p.waitFor("conn-1 ready", msg("child ready", "conn-1")).int("pid")
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	p.waitFor("pool giving up", msg("supervisor gave up", ""))
	p.waitFor("pool restarted", func(r record) bool { return msg("child ready", "pool")(r) && r.int("incarnation") == 2 })
	for _, want := range []string{"instance one", "instance two"} {
		p.waitFor(want+" again", func(r record) bool { return r.str("line") == want })
	}
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
}

// TestRunInstancesTogether: instances start together, not each after the
// last is ready. Each of the four is ready only once all four have
// started, so one at a time the first never gets ready.
func TestRunInstancesTogether(t *testing.T) {
	dir := t.TempDir()
	p := startRun(t, fmt.Sprintf(`
children:
  - name: pool
    supervisor:
      strategy: simple_one_for_one
      template:
        name: conn
        command: sh
        args: [-c, 'touch %[1]s/$0; until [ $(ls %[1]s | wc -l) -ge 4 ]; do sleep 0.01; done; echo >&7; exec sleep 1000']
        notification_fd: 7
        ready_timeout: 20s
      instances: [[a], [b], [c], [d]]
`, dir))
	for i := 1; i <= 4; i++ {
		p.waitFor(fmt.Sprintf("conn-%d ready", i), msg("child ready", fmt.Sprintf("conn-%d", i)))
	}
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
	assert.NotContains(t, p.transcript(), "could not start an instance")
}

// TestRunHotStandby: killing the primary of a hot-standby child promotes
// its spare, which goes on counting from the committed state.
func TestRunHotStandby(t *testing.T) {
	p := startRun(t, `
children:
  - name: counter
    worker: counter
    args: [20ms]
    standby: 1
    state_size: 8
    heartbeat: {interval: 10ms, timeout: 1s}
    stdout: lines
`)
	pid := p.waitFor("counter ready", msg("child ready", "counter")).int("pid")
	p.waitFor("a count", func(r record) bool { return strings.HasPrefix(r.str("line"), "count 3 ") })
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	took := p.waitFor("the failover", msg("spare took over", "counter"))
	assert.Equal(t, pid, took.int("old_pid"))
	newPid := took.int("new_pid")
	require.NotZero(t, newPid)
	p.waitFor("the spare counting", func(r record) bool {
		return strings.HasPrefix(r.str("line"), "resuming at count ") && strings.HasSuffix(r.str("line"), "(pid "+strconv.Itoa(newPid)+")")
	})
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
	assert.NotContains(t, p.transcript(), `"msg":"child restarting"`, "a failover, not a restart")
	assert.Equal(t, 1, strings.Count(p.transcript(), `"msg":"spare took over"`), "logged once, by supervision")
}

// TestRunLiveView: the live view draws the tree with ANSI redraws and
// leaves the cursor visible.
func TestRunLiveView(t *testing.T) {
	p := startCLI(t, "run", "--ui", "live", writeSpec(t, "children:\n  - {name: sleeper, command: sleep, args: [1000]}\n"))
	pid := 0
	for pid == 0 {
		select {
		case <-p.done:
			t.Fatalf("understudy ended:\n%s", p.transcript())
		default:
		}
		// The view writes to stdout; its frames hold the child's row:
		// "sleeper   running   4242   0   -   -".
		for _, line := range strings.Split(p.output(), "\n") {
			line = strings.TrimPrefix(line, "\x1b[H")
			if f := strings.Fields(line); len(f) > 2 && f[0] == "sleeper" && f[1] == "running" {
				pid, _ = strconv.Atoi(f[2])
			}
		}
		if pid == 0 {
			waitOutput(t, p)
		}
	}
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
	testproc.WaitGone(t, pid)
	out := p.output()
	assert.Contains(t, out, "\x1b[H")
	assert.Contains(t, out, "CHILD")
	assert.Contains(t, out, "HEARTBEAT")
	assert.True(t, strings.HasSuffix(out, "\x1b[?25h"), "the cursor is shown again")
	assert.Contains(t, p.transcript(), "understudy: stopped cleanly")
}

// waitOutput waits for the command to write more to stdout, or fails at
// the deadline.
func waitOutput(t *testing.T, p *runProc) {
	t.Helper()
	select {
	case <-p.wrote:
	case <-p.done:
	case <-time.After(deadline):
		t.Fatalf("no output within %v:\n%s", deadline, p.transcript())
	}
}

// isKeeper reports whether process pid is a runner's keeper, which ends
// everything the runner started when the runner dies.
func isKeeper(pid string) bool {
	env, _ := os.ReadFile("/proc/" + pid + "/environ")
	return bytes.Contains(env, []byte(linux.KeeperEnv+"="))
}

// childPids returns the pids of the live children of parent, from /proc
// (none where there is no /proc), but for its keeper.
func childPids(parent int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The parent pid is the second field after the command name's
		// closing parenthesis.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) >= 2 && string(f[0]) != "Z" { // a zombie is dead already
			if ppid, err := strconv.Atoi(string(f[1])); err == nil && ppid == parent && !isKeeper(e.Name()) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

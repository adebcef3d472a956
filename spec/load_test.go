//go:build linux

package spec_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/audio"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/spec"
	"github.com/understudy/understudy/supervision"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite the golden files of testdata/")

// inherit is a command's process spec with the file's default outputs.
func inherit(path string, args ...string) *procbridge.Spec {
	return &procbridge.Spec{Path: path, Args: args, Stdout: procbridge.Output{}, Stderr: procbridge.Output{}}
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}

// TestLoadValid loads valid files and compares them with the specs a Go
// program would build by hand.
func TestLoadValid(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want supervision.Spec
	}{
		{"minimal", `
children:
  - name: a
    command: sleep
    args: [1000]
`, supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: inherit("sleep", "1000")}}}},
		{"supervisor keys", `
strategy: rest_for_one
intensity: {max_restarts: 3, period: 10s}
auto_shutdown: all_significant
children:
  - {name: a, command: sleep, restart: temporary, significant: true}
`, supervision.Spec{
			Strategy: supervision.RestForOne, Intensity: supervision.Intensity{MaxRestarts: 3, Period: 10 * time.Second},
			AutoShutdown: supervision.AllSignificant,
			Children:     []supervision.ChildSpec{{Name: "a", Process: inherit("sleep"), Restart: supervision.Temporary, Significant: true}},
		}},
		{"names ignore case, '-' and '_'", `
strategy: One-For-All
children: [{name: a, command: sleep, restart: Transient}]
`, supervision.Spec{Strategy: supervision.OneForAll, Children: []supervision.ChildSpec{{Name: "a", Process: inherit("sleep"), Restart: supervision.Transient}}}},
		{"max_restarts 0 allows none; a period left out is 5s", `
intensity: {max_restarts: 0}
children:
  - name: n
    supervisor:
      intensity: {max_restarts: 2}
      children: [{name: a, command: sleep}]
`, supervision.Spec{
			Intensity: supervision.Intensity{MaxRestarts: supervision.NoRestarts},
			Children: []supervision.ChildSpec{{Name: "n", Supervisor: &supervision.Spec{
				Intensity: supervision.Intensity{MaxRestarts: 2, Period: 5 * time.Second},
				Children:  []supervision.ChildSpec{{Name: "a", Process: inherit("sleep")}},
			}}},
		}},
		{"command as a list, scalars as written", `
children:
  - {name: a, command: [sh, -c, 'exit 0', 8080, true]}
`, supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: inherit("sh", "-c", "exit 0", "8080", "true")}}}},
		{"shutdown forms", `
children:
  - {name: a, command: sleep, shutdown: 1m30s}
  - {name: b, command: sleep, shutdown: brutal_kill}
  - name: c
    shutdown: infinity
    supervisor: {children: [{name: d, command: sleep}]}
  - name: e
    shutdown: 10s
    supervisor: {children: [{name: f, command: sleep}]}
`, supervision.Spec{Children: []supervision.ChildSpec{
			{Name: "a", Process: inherit("sleep"), Shutdown: 90 * time.Second},
			{Name: "b", Process: inherit("sleep"), Shutdown: supervision.BrutalKill},
			{Name: "c", Shutdown: supervision.Infinity,
				Supervisor: &supervision.Spec{Children: []supervision.ChildSpec{{Name: "d", Process: inherit("sleep")}}}},
			{Name: "e", Shutdown: 10 * time.Second,
				Supervisor: &supervision.Spec{Children: []supervision.ChildSpec{{Name: "f", Process: inherit("sleep")}}}},
		}}},
		{"backoff: a supervisor's is its children's default, field by field, down the tree", `
backoff: {initial: 1s, max: 1m}
children:
  - {name: a, command: sleep}
  - {name: b, command: sleep, backoff: {max: 30s, jitter: 0.1}}
  - {name: c, command: sleep, backoff: none}
  - name: n
    supervisor:
      backoff: {multiplier: 3}
      children: [{name: d, command: sleep}]
`, supervision.Spec{Children: []supervision.ChildSpec{
			{Name: "a", Process: inherit("sleep"), Backoff: supervision.Backoff{Initial: time.Second, Max: time.Minute}},
			{Name: "b", Process: inherit("sleep"), Backoff: supervision.Backoff{Initial: time.Second, Max: 30 * time.Second, Jitter: 0.1}},
			{Name: "c", Process: inherit("sleep"), Backoff: supervision.Backoff{Initial: -1}},
			{Name: "n", Backoff: supervision.Backoff{Initial: time.Second, Max: time.Minute}, Supervisor: &supervision.Spec{Children: []supervision.ChildSpec{
				{Name: "d", Process: inherit("sleep"), Backoff: supervision.Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 3}},
			}}},
		}}},
		{"a Go worker with heartbeat, readiness, state and rings", `
children:
  - name: w
    worker: wait
    heartbeat: {interval: 10ms, timeout: 100ms}
    ready_timeout: 2s
    state_size: 4KiB
    ring_size: 65536
    stdout: discard
    stderr: lines
`, supervision.Spec{Children: []supervision.ChildSpec{{Name: "w", Process: &procbridge.Spec{
			Worker: "wait", Heartbeat: procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 100 * time.Millisecond},
			ReadyTimeout: 2 * time.Second, StateSize: 4096, RingSize: 65536,
			Stdout: procbridge.Discard, Stderr: procbridge.Lines,
		}}}}},
		{"an executable that links the SDK", `
children:
  - {name: x, command: /bin/true, sdk: true, heartbeat: {interval: 1ms, timeout: 5ms}}
`, supervision.Spec{Children: []supervision.ChildSpec{{Name: "x", Process: &procbridge.Spec{
			Path: "/bin/true", SDK: true, Heartbeat: procbridge.Heartbeat{Interval: time.Millisecond, Timeout: 5 * time.Millisecond},
			Stdout: procbridge.Output{}, Stderr: procbridge.Output{},
		}}}}},
		{"clear_env: exactly the variables declared", `
children:
  - {name: a, command: env, clear_env: true, env: {B: 2, A: one}}
  - {name: b, command: env, clear_env: true}
`, supervision.Spec{Children: []supervision.ChildSpec{
			{Name: "a", Process: &procbridge.Spec{Path: "env", Env: []string{"B=2", "A=one"}, Stdout: procbridge.Output{}, Stderr: procbridge.Output{}}},
			{Name: "b", Process: &procbridge.Spec{Path: "env", Env: []string{}, Stdout: procbridge.Output{}, Stderr: procbridge.Output{}}},
		}}},
		{"x- keys hold anchors; merge keys; aliases", `
x-defaults: &defaults {restart: transient, shutdown: 2s}
x-args: &args [1000]
children:
  - {<<: *defaults, name: a, command: sleep, args: *args}
  - {<<: *defaults, name: b, command: sleep, restart: temporary}
`, supervision.Spec{Children: []supervision.ChildSpec{
			{Name: "a", Process: inherit("sleep", "1000"), Restart: supervision.Transient, Shutdown: 2 * time.Second},
			{Name: "b", Process: inherit("sleep"), Restart: supervision.Temporary, Shutdown: 2 * time.Second},
		}}},
		{"zero durations need no unit", `
children:
  - {name: a, command: sleep, backoff: {jitter: 0}, ready_timeout: 1h30m}
`, supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: &procbridge.Spec{
			Path: "sleep", ReadyTimeout: 90 * time.Minute, Stdout: procbridge.Output{}, Stderr: procbridge.Output{},
		}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := spec.Parse("t.yaml", []byte(tt.yaml))
			require.NoError(t, err)
			require.NotNil(t, f.Tree)
			assert.Equal(t, tt.want, *f.Tree)
			require.NoError(t, f.Tree.Validate(), "a loaded spec is valid")
		})
	}
}

func TestLoadEnvInherits(t *testing.T) {
	t.Setenv("UNDERSTUDY_LOAD_TEST", "from the runner")
	t.Setenv("UNDERSTUDY_LOAD_KEEP", "kept")
	f, err := spec.Parse("t.yaml", []byte(`
children:
  - {name: a, command: env, env: {UNDERSTUDY_LOAD_TEST: from the file, NEW: "1"}}
`))
	require.NoError(t, err)
	env := f.Tree.Children[0].Process.Env
	assert.Contains(t, env, "UNDERSTUDY_LOAD_KEEP=kept")
	assert.NotContains(t, env, "UNDERSTUDY_LOAD_TEST=from the runner")
	assert.Equal(t, []string{"UNDERSTUDY_LOAD_TEST=from the file", "NEW=1"}, env[len(env)-2:], "the file's variables come last")
}

func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	f, err := spec.Parse(filepath.Join(dir, "sub", "t.yaml"), []byte(`
children:
  - {name: a, command: ./bin/run, dir: work, stdout: ./logs/a.log, stderr: /var/log/a.err}
  - {name: b, command: sleep}
audio:
  nodes: [{name: s, kind: sine, params: {freq: 440}}]
  output: out.wav
`))
	require.NoError(t, err)
	p := f.Tree.Children[0].Process
	assert.Equal(t, filepath.Join(dir, "sub", "bin", "run"), p.Path, "relative to the file")
	assert.Equal(t, filepath.Join(dir, "sub", "work"), p.Dir)
	assert.Equal(t, spec.FileOutput(filepath.Join(dir, "sub", "logs", "a.log")), p.Stdout)
	assert.Equal(t, spec.FileOutput("/var/log/a.err"), p.Stderr)
	assert.Equal(t, "sleep", f.Tree.Children[1].Process.Path, "a name without a slash is looked up in PATH")
	assert.Equal(t, filepath.Join(dir, "sub", "out.wav"), f.Audio.Config.WAV)

	f, err = spec.Parse("t.yaml", []byte("children: [{name: a, command: ./run}]"))
	require.NoError(t, err)
	assert.Equal(t, abs(t, "run"), f.Tree.Children[0].Process.Path, "relative to the current directory")
}

func TestLoadSimpleOneForOne(t *testing.T) {
	f, err := spec.Parse("t.yaml", []byte(`
name: app
children:
  - name: pool
    supervisor:
      strategy: simple_one_for_one
      template: {name: conn, command: sleep, restart: temporary}
      instances: [[100], 200, []]
  - name: workers
    supervisor:
      strategy: simple_one_for_one
      template: {name: w, worker: wait}
      instances: 2
`))
	require.NoError(t, err)
	assert.Equal(t, "app", f.Name)
	pool := f.Tree.Children[0].Supervisor
	assert.Equal(t, supervision.SimpleOneForOne, pool.Strategy)
	assert.Equal(t, []supervision.ChildSpec{{Name: "conn", Process: inherit("sleep"), Restart: supervision.Temporary}}, pool.Children)
	assert.Equal(t, []spec.Instance{
		{Supervisor: []string{"pool"}, Args: []string{"100"}},
		{Supervisor: []string{"pool"}, Args: []string{"200"}},
		{Supervisor: []string{"pool"}},
		{Supervisor: []string{"workers"}},
		{Supervisor: []string{"workers"}},
	}, f.Instances)
}

func TestLoadAudio(t *testing.T) {
	f, err := spec.Parse("/tmp/t.yaml", []byte(`
audio:
  rate: 44100
  block_size: 64
  slack: 0
  standby: 2
  duration: 250ms
  nodes:
    - {name: osc, kind: sine, params: {freq: 440, amp: 0.5}, process: light}
    - {name: mix, kind: mixer, params: {inputs: 3}, process: light}
  edges:
    - osc:0 -> mix:0
    - osc -> mix:1
    - {from: {node: osc, port: 0}, to: mix:2}
  output: {path: /tmp/out.wav, ports: [mix:0, {node: osc}]}
`))
	require.NoError(t, err)
	assert.Nil(t, f.Tree, "no tree")
	assert.Equal(t, &spec.Audio{
		Config: audio.Config{
			Graph: audio.Graph{
				Rate: 44100, BlockSize: 64,
				Nodes: []audio.Node{
					{Name: "osc", Kind: "sine", Params: audio.Params{"freq": 440, "amp": 0.5}, Process: "light"},
					{Name: "mix", Kind: "mixer", Params: audio.Params{"inputs": 3}, Process: "light"},
				},
				Edges: []audio.Edge{
					{From: audio.Port{Node: "osc"}, To: audio.Port{Node: "mix"}},
					{From: audio.Port{Node: "osc"}, To: audio.Port{Node: "mix", Port: 1}},
					{From: audio.Port{Node: "osc"}, To: audio.Port{Node: "mix", Port: 2}},
				},
			},
			Sink:  []audio.Port{{Node: "mix"}, {Node: "osc"}},
			WAV:   "/tmp/out.wav",
			Slack: audio.NoSlack, Spares: 2,
		},
		Duration: 250 * time.Millisecond,
	}, f.Audio)
	require.NoError(t, f.Audio.Config.Validate(), "what the loader gives, audio takes")

	f, err = spec.Parse("/tmp/t.yaml", []byte("audio: {nodes: [{name: t, kind: testsignal}]}"))
	require.NoError(t, err)
	assert.Equal(t, &spec.Audio{
		Config: audio.Config{
			Graph: audio.Graph{Rate: 48000, BlockSize: 128, Nodes: []audio.Node{{Name: "t", Kind: "testsignal"}}},
			Sink:  []audio.Port{{Node: "t"}, {Node: "t", Port: 1}, {Node: "t", Port: 2}},
			Slack: 1, Spares: 1,
		},
		Duration: time.Second,
	}, f.Audio, "the defaults; every output port no edge reads is written")
}

// TestLoadErrors: every message is part of the contract. Each file holds
// one or a few problems; all of them are reported, in file order.
func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{`restart from another tool`, `children:
  - {name: a, command: sleep, restart: on-failure}
  - {name: b, command: sleep, restart: always}
`,
			`t.yaml:2:40: children[0].restart: unknown restart 'on-failure' (did you mean 'transient'? It restarts after an abnormal exit only)
t.yaml:3:40: children[1].restart: unknown restart 'always' (did you mean 'permanent'? It always restarts)`},
		{`alias key`, `children:
  - {name: a, cmd: sleep}
`,
			`t.yaml:2:5: children[0]: missing 'command', 'worker' or 'supervisor' (a child runs an executable, a Go worker this program registers, or a nested supervisor)
t.yaml:2:15: children[0].cmd: unknown key (did you mean 'command'?)`},
		{`audio errors`, `audio:
  rate: 0
  block_size: 100
  slack: -1
  standby: 0
  duration: 0s
  nodes:
    - {name: osc, kind: sine, params: {freq: "440"}}
    - {name: osc, kind: sine}
    - {kind: sine}
  edges:
    - osc:0 -> mxi:0
    - "osc => mix"
    - {from: osc, to: {node: osc, port: x}}
    - osc:x -> osc
  output: {ports: [nope:0]}
`,
			`t.yaml:2:9: audio.rate: 0: must be at least 1
t.yaml:3:15: audio.block_size: 100: must be a power of two from 16 to 4096
t.yaml:4:10: audio.slack: -1 must not be negative (the slack counts blocks of output latency; 0 is none)
t.yaml:5:12: audio.standby: 0 must be at least 1 (every node of a graph has at least one spare)
t.yaml:6:13: audio.duration: 0s is out of range: want above 0, up to 10m
t.yaml:8:46: audio.nodes[0].params.freq: want a number, got "440" (remove the quotes)
t.yaml:9:14: audio.nodes[1].name: "osc": repeats nodes[0].Name
t.yaml:10:7: audio.nodes[2]: missing 'name'
t.yaml:12:7: audio.edges[0].to.node: no node 'mxi' in the graph (nodes: osc)
t.yaml:13:7: audio.edges[1]: "osc => mix" is not an edge (write from -> to, such as osc:0 -> mix:1)
t.yaml:14:41: audio.edges[2].to.port: want a whole number, got "x"
t.yaml:15:7: audio.edges[3]: "osc:x": 'x' is not a port number (ports count from 0, such as osc:0)
t.yaml:16:11: audio.output: missing 'path' (such as path: out.wav)`},
		{`audio graph errors`, `audio:
  rate: 0
  block_size: 100
  slack: 65
  standby: 15
  nodes:
    - {name: osc, kind: sine, params: {freq: 440}}
    - {name: osc, kind: sine}
    - {name: "bad name", kind: sinus}
  edges:
    - osc:0 -> mxi:0
    - {from: osc, to: {node: osc, port: 7}}
  output: {path: out.wav, ports: [nope:0]}
`,
			`t.yaml:2:9: audio.rate: 0: must be at least 1
t.yaml:3:15: audio.block_size: 100: must be a power of two from 16 to 4096
t.yaml:8:14: audio.nodes[1].name: "osc": repeats nodes[0].Name
t.yaml:9:14: audio.nodes[2].name: "bad name": byte ' ' not allowed: use ASCII letters, digits, '_', '-', '.'
t.yaml:9:32: audio.nodes[2].kind: unknown kind 'sinus' (did you mean 'sine'?)
t.yaml:11:5: audio.edges: the edges form a cycle: osc -> osc (an audio graph flows one way: remove an edge of the cycle)
t.yaml:11:7: audio.edges[0].to.node: no node 'mxi' in the graph (nodes: osc, bad name)`},
		{`audio config errors`, `audio:
  slack: 65
  standby: 15
  nodes:
    - {name: osc, kind: sine, params: {freq: 440}}
    - {name: lp, kind: lowpass, params: {freq: 1000}}
  edges: [osc -> lp]
  output: {path: out.wav, ports: [lp:3]}
`,
			`t.yaml:2:10: audio.slack: 65: want 0 (default 1), NoSlack (-1), or 1..64
t.yaml:3:12: audio.standby: 15: want 1..14
t.yaml:8:35: audio.output.ports[0]: 3: node "lp" (lowpass) has 1 outputs`},
		{`audio kind`, `audio:
  nodes:
    - {name: osc, kind: sinus}
    - {name: x, kind: nothing-like-it}
`,
			`t.yaml:3:25: audio.nodes[0].kind: unknown kind 'sinus' (did you mean 'sine'?)
t.yaml:4:23: audio.nodes[1].kind: unknown kind 'nothing-like-it' (known: bandpass, delay, gain, highpass, lowpass, mixer, peak, sine, testsignal)`},
		{`audio cycle`, `audio:
  nodes:
    - {name: a, kind: gain}
    - {name: b, kind: gain}
  edges: [a -> b, b -> a]
`,
			`t.yaml:5:10: audio.edges: the edges form a cycle: a -> b -> a (an audio graph flows one way: remove an edge of the cycle)`},
		{`audio processes`, `audio:
  nodes:
    - {name: a, kind: testsignal, process: light}
    - {name: b, kind: gain}
    - {name: c, kind: gain, process: light}
  edges: [a:1 -> b, b -> c]
`,
			`t.yaml:3:44: audio.nodes[0].process: "light": processes feed each other in a cycle: process "light" -> node "b" -> process "light" (edges a -> b, b -> c); a process computes all its nodes at once, so no chain of edges may leave it and come back: run the nodes between in the same process, or split it`},
		{`audio process names`, `audio:
  nodes:
    - {name: d, kind: gain, process: ""}
    - {name: e, kind: gain, process: "x y"}
    - {name: f, kind: gain, process: 7}
`,
			`t.yaml:3:38: audio.nodes[0].process: empty process (leave it out to run the node in a process of its own)
t.yaml:4:38: audio.nodes[1].process: "x y": byte ' ' not allowed: use ASCII letters, digits, '_', '-', '.'
t.yaml:5:38: audio.nodes[2].process: want a string, got 7 (quote it: "7")`},
		{`audio process name`, `audio:
  nodes:
    - {name: e, kind: gain, process: "x y"}
`,
			`t.yaml:3:38: audio.nodes[0].process: "x y": byte ' ' not allowed: use ASCII letters, digits, '_', '-', '.'`},
		{`audio no nodes`, `audio:
  nodes: []
`,
			`t.yaml:2:10: audio.nodes: an audio graph needs at least one node (nodes: [{name: osc, kind: sine, params: {freq: 440}}])`},
		{`audio unknown key`, `audio:
  sample_rate: 44100
  nodes: [{name: a, kind: sine, param: {freq: 1}}]
`,
			`t.yaml:2:3: audio.sample_rate: unknown key (did you mean 'rate'?)
t.yaml:3:33: audio.nodes[0].param: unknown key (did you mean 'params'?)`},
		{`backoff initial max`, `backoff: {max: 1s}
children:
  - {name: a, command: sleep, backoff: {initial: 2s}}
`,
			`t.yaml:3:50: children[0].backoff.initial: 2s: exceeds Backoff.Max = 1s`},
		{`backoff word`, `children:
  - {name: a, command: sleep, backoff: nope}
`,
			`t.yaml:2:40: children[0].backoff: unknown backoff 'nope' (did you mean 'none'?)`},
		{`bad bool`, `auto_shutdown: any_significant
children:
  - {name: a, command: sleep, restart: transient, significant: yes}
`,
			`t.yaml:3:64: children[0].significant: want true or false, got "yes" (write true)`},
		{`bad duration`, `children:
  - {name: a, command: sleep, ready_timeout: soon}
`,
			`t.yaml:2:46: children[0].ready_timeout: "soon" is not a duration (a number and a unit: ns, us, ms, s, m or h, such as 250ms or 1m30s)`},
		{`bad names`, `children:
  - {name: a/b, command: sleep}
  - {name: $x, command: sleep}
  - {name: "", command: sleep}
`,
			`t.yaml:2:12: children[0].name: 'a/b' must not contain '/' (it separates actor paths)
t.yaml:3:12: children[1].name: '$x' must not start with '$' (protoactor's generated names do)
t.yaml:4:12: children[2].name: empty name`},
		{`bad root name`, `name: a/b
children: [{name: a, command: sleep}]
`,
			`t.yaml:1:7: name: 'a/b' must not contain '/' (it separates actor paths)`},
		{`bad strategy`, `strategy: one-for-al
children: [{name: a, command: sleep}]
`,
			`t.yaml:1:11: strategy: unknown strategy 'one-for-al' (did you mean 'one_for_all'?)`},
		{`bad strategy far`, `strategy: round_robin
children: [{name: a, command: sleep}]
`,
			`t.yaml:1:11: strategy: unknown strategy 'round_robin' (want one of one_for_one, one_for_all, rest_for_one, simple_one_for_one)`},
		{`bad type args`, `children:
  - {name: a, command: sleep, args: "10 20"}
`,
			`t.yaml:2:37: children[0].args: want a list of arguments, got "10 20" (a list is not split on spaces: write [10, 20])`},
		{`bad type children`, `children: {name: a}
`,
			`t.yaml:1:11: children: want a list of children, got a mapping`},
		{`bad type name`, `children:
  - {name: 42, command: sleep}
`,
			`t.yaml:2:12: children[0].name: want a string, got 42 (quote it: "42")`},
		{`bare number`, `children:
  - {name: a, command: sleep, ready_timeout: 5}
`,
			`t.yaml:2:46: children[0].ready_timeout: 5 has no unit (add a unit: 5ms or 5s)`},
		{`child key at top`, `command: sleep
children:
  - {name: a, command: sleep}
`,
			`t.yaml:1:1: command: unknown key (it is a child's key: put it in an entry of children:)`},
		{`command and worker`, `children:
  - {name: a, command: sleep, worker: wait}
`,
			`t.yaml:2:31: children[0].worker: 'command' and 'worker' both set (a child runs either an executable or a Go worker)`},
		{`command list args`, `children:
  - {name: a, command: [sleep, "1"], args: ["2"]}
`,
			`t.yaml:2:38: children[0].args: args with a command list (put them in the command list, or write command as a string)`},
		{`dup key`, `children:
  - name: a
    command: sleep
    name: b
`,
			`t.yaml:4:5: children[0].name: duplicate key 'name' (first at line 2)`},
		{`dup names`, `children:
  - {name: a, command: sleep}
  - {name: b, command: sleep}
  - {name: a, command: sleep}
`,
			`t.yaml:4:12: children[2].name: duplicate child name 'a' (first at line 2)`},
		{`env bad`, `children:
  - {name: a, command: sleep, env: [A=1]}
  - {name: b, command: sleep, env: {"A=B": x, C: [1]}}
`,
			`t.yaml:2:36: children[0].env: want a mapping of variables, got a list (env: {NAME: value})
t.yaml:3:37: children[1].env.A=B: 'A=B' is not a variable name
t.yaml:3:50: children[1].env.C: want a string, got a list`},
		{`exp duration`, `children:
  - {name: a, command: sleep, ready_timeout: 5e-3s}
`,
			`t.yaml:2:46: children[0].ready_timeout: "5e-3s": exponents are not accepted in durations (write 5ms)`},
		{`heartbeat bad`, `children:
  - {name: a, worker: wait, heartbeat: {interval: 500us, timeout: 100us}}
`,
			`t.yaml:2:51: children[0].heartbeat.interval: 500µs is below the 1ms floor
t.yaml:2:67: children[0].heartbeat.timeout: 100µs must be above the interval, 500µs (a few intervals, such as 2ms)`},
		{`heartbeat missing`, `children:
  - {name: a, worker: wait, heartbeat: {interval: 10ms}}
`,
			`t.yaml:2:40: children[0].heartbeat: missing 'timeout' (a few intervals, such as timeout: 100ms for interval: 10ms)`},
		{`heartbeat no sdk`, `children:
  - {name: a, command: sleep, heartbeat: {interval: 10ms, timeout: 100ms}}
`,
			`t.yaml:2:31: children[0].heartbeat: a heartbeat needs a worker that beats (set sdk: true if the executable links procbridge/worker, notify: true if it speaks sd_notify, or use a Go worker)`},
		{`instances bad`, `strategy: simple_one_for_one
template: {name: a, command: sleep}
instances: many
`,
			`t.yaml:3:12: instances: want a count or a list of argument lists, got "many" (instances: 3, or instances: [[8080], [8081]])`},
		{`instances not sofo`, `children: [{name: a, command: sleep}]
instances: 2
`,
			`t.yaml:2:1: instances: instances are for a simple_one_for_one supervisor (set strategy: simple_one_for_one)`},
		{`jitter range`, `children:
  - {name: a, command: sleep, backoff: {jitter: 1.5}}
`,
			`t.yaml:2:49: children[0].backoff.jitter: 1.5: want 0 to 1`},
		{`multiplier range`, `children:
  - {name: a, command: sleep, backoff: {jitter: 1.5, multiplier: 0.5}}
`,
			`t.yaml:2:49: children[0].backoff.jitter: 1.5: want 0 to 1
t.yaml:2:66: children[0].backoff.multiplier: 0.5 is out of range: want 1 to 1000`},
		{`merge ok and bad`, `defaults: &d {restart: transient}
children:
  - {<<: *d, name: a, command: sleep}
`,
			`t.yaml:1:1: defaults: unknown key (want one of 'version', 'name', 'strategy', 'intensity', 'auto_shutdown', 'backoff', 'children', 'template', 'instances', 'audio', 'cluster')`},
		{`misplaced key`, `max_restarts: 3
children:
  - {name: a, command: sleep}
`,
			`t.yaml:1:1: max_restarts: unknown key (it belongs in intensity: {max_restarts: 3, period: 5s})`},
		{`missing children`, `name: app
`,
			`t.yaml:1:1: missing 'children' (declare the tree's children (children: [] starts it empty); see docs/spec-reference.md)`},
		{`missing name`, `children:
  - {command: sleep}
`,
			`t.yaml:2:5: children[0]: missing 'name'`},
		{`negative duration`, `children:
  - {name: a, command: sleep, shutdown: -1s}
`,
			`t.yaml:2:41: children[0].shutdown: a grace period of -1s: it must be positive (leave shutdown out for the default)`},
		{`negative restarts`, `intensity: {max_restarts: -1}
children: [{name: a, command: sleep}]
`,
			`t.yaml:1:27: intensity.max_restarts: -1 is out of range: want 0 or more (0 allows no restarts at all)`},
		{`nested empty`, `children:
  - name: a
    supervisor: {strategy: one_for_all}
`,
			`t.yaml:3:17: children[0].supervisor: missing 'children' (children: [] starts it empty)`},
		{`no program`, `children:
  - {name: a, restart: temporary}
`,
			`t.yaml:2:5: children[0]: missing 'command', 'worker' or 'supervisor' (a child runs an executable, a Go worker this program registers, or a nested supervisor)`},
		{`output bad`, `children:
  - {name: a, command: sleep, stdout: inherti, stderr: logs/}
  - {name: b, command: sleep, stdout: somefile}
`,
			`t.yaml:2:39: children[0].stdout: unknown output 'inherti': want inherit, discard, lines or a file path (did you mean 'inherit'?)
t.yaml:2:56: children[0].stderr: 'logs/' names a directory, not a file
t.yaml:3:39: children[1].stdout: unknown output 'somefile': want inherit, discard, lines or a file path (a file path needs a '/': ./somefile)`},
		{`process keys on supervisor`, `children:
  - name: a
    env: {A: "1"}
    supervisor: {children: [{name: b, command: sleep}]}
`,
			`t.yaml:3:5: children[0].env: 'env' is for a process child, and this child is a supervisor`},
		{`quoted number`, `children:
  - {name: a, command: sleep, ready_timeout: "5"}
`,
			`t.yaml:2:46: children[0].ready_timeout: "5" has no unit (add a unit: 5ms or 5s)`},
		{`second doc`, `children: [{name: a, command: sleep}]
---
children: [{name: b, command: sleep}]
`,
			`t.yaml:2: a second YAML document: a spec file holds one (remove the '---' and what follows, or split the file)`},
		{`shutdown rules`, `children:
  - {name: a, command: sleep, shutdown: infinity}
  - name: b
    shutdown: brutal_kill
    supervisor: {children: [{name: c, command: sleep}]}
  - {name: d, command: sleep, shutdown: infinty}
`,
			`t.yaml:2:41: children[0].shutdown: infinity is only for a nested supervisor: a process is stopped within a grace period, then killed (use a grace period such as 5s, or brutal_kill)
t.yaml:4:15: children[1].shutdown: a nested supervisor cannot be killed brutally: its children must be stopped in order (use infinity, or a grace period)
t.yaml:6:41: children[2].shutdown: unknown shutdown 'infinty': want brutal_kill, infinity or a grace period (did you mean 'infinity'?)`},
		{`significant rules`, `children:
  - {name: a, command: sleep, significant: true}
  - {name: b, command: sleep, restart: transient, significant: true}
`,
			`t.yaml:2:44: children[0].significant: a permanent child cannot be significant (make it restart: transient or restart: temporary)
t.yaml:3:64: children[1].significant: significant has no effect under auto_shutdown: never (set the supervisor's auto_shutdown: any_significant or all_significant)`},
		{`size units`, `children:
  - {name: a, worker: wait, state_size: 64kb}
`,
			`t.yaml:2:41: children[0].state_size: "64kb": unknown unit 'kb' (write 64KiB: sizes are binary)`},
		{`sofo children`, `strategy: simple_one_for_one
children: [{name: a, command: sleep}]
`,
			`t.yaml:2:1: children: a simple_one_for_one supervisor declares a template, not children (write its one child as template: {name: ..., command: ...})`},
		{`sofo no template`, `strategy: simple_one_for_one
`,
			`t.yaml:1:1: a simple_one_for_one supervisor needs its template (add template: {name: ..., command: ...})`},
		{`sofo supervisor template`, `strategy: simple_one_for_one
auto_shutdown: any_significant
template:
  name: a
  supervisor: {children: [{name: b, command: sleep}]}
`,
			`t.yaml:2:16: auto_shutdown: a simple_one_for_one supervisor must use never
t.yaml:5:3: template.supervisor: a simple_one_for_one template must be a process`},
		{`space duration`, `children:
  - {name: a, command: sleep, ready_timeout: 5 ms}
`,
			`t.yaml:2:46: children[0].ready_timeout: "5 ms": a space inside a duration (write 5ms)`},
		{`standby no sdk`, `children:
  - {name: a, command: sleep, standby: 1}
`,
			`t.yaml:2:40: children[0].standby: a hot standby needs a worker that can park and take over (set sdk: true if the executable links procbridge/worker, or use a Go worker)`},
		{`standby range`, `children:
  - {name: a, worker: wait, standby: 15}
`,
			`t.yaml:2:38: children[0].standby: 15: want 0..14 spares`},
		{`state size`, `children:
  - {name: a, worker: wait, state_size: 2GiB, ring_size: 4KiB}
`,
			`t.yaml:2:41: children[0].state_size: 2147483648: want 0..1073741824`},
		{`ring size`, `children:
  - {name: a, worker: wait, state_size: 1KiB, ring_size: 3KiB}
`,
			`t.yaml:2:58: children[0].ring_size: 3072: want 0 or a power of two up to 67108864`},
		{`memory max small`, `children:
  - {name: a, command: sleep, memory_max: 4KiB}
`,
			`t.yaml:2:43: children[0].memory_max: 4KiB is below 1MiB: no program runs in that (such as 256MiB; leave it out for no limit)`},
		{`cpu max percentage`, `children:
  - {name: a, command: sleep, cpu_max: "50%"}
`,
			`t.yaml:2:40: children[0].cpu_max: "50%": not a percentage (write 0.5: a number of CPUs)`},
		{`cpu max range`, `children:
  - {name: a, command: sleep, cpu_max: 0.001}
`,
			`t.yaml:2:40: children[0].cpu_max: 0.001 is out of range (a number of CPUs from 0.01, such as 0.5; leave it out for no limit)`},
		{`pids max negative`, `children:
  - {name: a, command: sleep, pids_max: -1}
`,
			`t.yaml:2:41: children[0].pids_max: -1 must not be negative (leave it out for no limit)`},
		{`sup key in child`, `children:
  - {name: a, command: sleep, strategy: one_for_all}
`,
			`t.yaml:2:31: children[0].strategy: unknown key (a nested supervisor's keys go under supervisor:)`},
		{`supervisor and command`, `children:
  - name: a
    command: sleep
    supervisor: {children: [{name: b, command: sleep}]}
`,
			`t.yaml:4:5: children[0].supervisor: 'supervisor' and 'command' both set (a child is a process or a supervisor)`},
		{`syntax`, `children:
  - name: a
   command: sleep
`,
			`t.yaml:1: YAML syntax: did not find expected '-' indicator`},
		{`template without sofo`, `template: {name: a, command: sleep}
`,
			`t.yaml:1:1: template: template is for a simple_one_for_one supervisor (set strategy: simple_one_for_one, or list the child under children:)`},
		{`top list`, `- name: a
  command: sleep
`,
			`t.yaml:1:1: want a mapping, got a list (a spec file is a mapping: children:, strategy:, audio: ...)`},
		{`top scalar`, `hello
`,
			`t.yaml:1:1: want a mapping, got "hello" (a spec file is a mapping: children:, strategy:, audio: ...)`},
		{`unit alias`, `children:
  - {name: a, command: sleep, ready_timeout: 2min}
`,
			`t.yaml:2:46: children[0].ready_timeout: "2min": unknown unit 'min' (write 2m)`},
		{`unknown child`, `children:
  - name: a
    command: sleep
    restrat: transient
`,
			`t.yaml:4:5: children[0].restrat: unknown key (did you mean 'restart'?)`},
		{`unknown top`, `intensty: {max_restarts: 3}
children: [{name: a, command: sleep}]
`,
			`t.yaml:1:1: intensty: unknown key (did you mean 'intensity'?)`},
		{`unregistered`, `children:
  - {name: a, worker: wiat}
`,
			`t.yaml:2:23: children[0].worker: no Go worker 'wiat' is registered in this program (did you mean 'wait'?)`},
		{`version`, `version: 2
children: [{name: a, command: sleep}]
`,
			`t.yaml:1:10: version: unsupported version 2: this program reads version 1`},
		{`restart typo`, `children:
  - {name: a, command: sleep, restart: permanant}
`,
			`t.yaml:2:40: children[0].restart: unknown restart 'permanant' (did you mean 'permanent'?)`},
		{`zero period`, `intensity: {max_restarts: 2, period: 0s}
children: [{name: a, command: sleep}]
`,
			`t.yaml:1:38: intensity.period: 0s must be positive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := spec.Parse("t.yaml", []byte(tt.yaml))
			require.Error(t, err)
			assert.Nil(t, f)
			assert.Equal(t, tt.want, err.Error())
			var le *spec.Error
			require.ErrorAs(t, err, &le)
			assert.Equal(t, "t.yaml", le.File)
		})
	}
}

// TestLoadReportsEveryError loads a file full of mistakes and compares the
// whole report with testdata/bad.err (go test -run TestLoadReportsEveryError
// -update-golden rewrites it).
func TestLoadReportsEveryError(t *testing.T) {
	_, err := spec.Load("testdata/bad.yaml")
	require.Error(t, err)
	golden := "testdata/bad.err"
	if *updateGolden {
		require.NoError(t, os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644))
	}
	want, rerr := os.ReadFile(golden)
	require.NoError(t, rerr)
	assert.Equal(t, strings.TrimSuffix(string(want), "\n"), err.Error())
	assert.Greater(t, len(unjoin(err)), 20, "every problem, not the first")
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestLoadUnregisteredWorker(t *testing.T) {
	_, err := spec.Parse("t.yaml", []byte("children: [{name: a, worker: transcoder}]"))
	require.Error(t, err)
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "t.yaml:1:30: children[0].worker: no Go worker 'transcoder' is registered in this program (registered: "), msg)
	assert.Contains(t, msg, "wait", "the hint lists the workers this program registers")
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
		return p
	}
	tests := []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "nope.yaml"), "spec: read: open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory"},
		{"directory", dir, "spec: read: " + dir + ": is a directory"},
		{"empty", write("empty.yaml", ""), filepath.Join(dir, "empty.yaml") + ": empty file (declare a tree with children:, or an audio: graph; see docs/spec-reference.md)"},
		{"only comments", write("comments.yaml", "# nothing yet\n\n# really\n"), filepath.Join(dir, "comments.yaml") + ": empty file (declare a tree with children:, or an audio: graph; see docs/spec-reference.md)"},
		{"null", write("null.yaml", "~\n"), filepath.Join(dir, "null.yaml") + ": empty file (declare a tree with children:, or an audio: graph; see docs/spec-reference.md)"},
		{"too large", write("large.yaml", "# "+strings.Repeat("x", (4<<20))), filepath.Join(dir, "large.yaml") + ": file too large: over 4MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.Load(tt.path)
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
	_, err := spec.Load(filepath.Join(dir, "nope.yaml"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	if os.Geteuid() != 0 {
		p := write("secret.yaml", "children: []")
		require.NoError(t, os.Chmod(p, 0))
		_, err := spec.Load(p)
		assert.ErrorIs(t, err, os.ErrPermission)
	}
}

func TestLoadBudget(t *testing.T) {
	// Aliases that expand exponentially ("billion laughs"): nine levels of
	// supervisors, each with ten children that are all the level below.
	// The loader stops at its budget instead of taking its time and memory.
	var b strings.Builder
	b.WriteString("x-0: &c0 {name: a, command: sleep}\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "x-%d: &c%d {name: a, supervisor: {children: [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*c%d", i-1)
		}
		b.WriteString("]}}\n")
	}
	b.WriteString("children: [*c8]\n")
	began := time.Now()
	_, err := spec.Parse("t.yaml", []byte(b.String()))
	require.Error(t, err)
	msg := err.Error()
	assert.True(t, strings.Contains(msg, "too many YAML nodes (aliases expanded): more than 200000"), "the budget is reported")
	assert.True(t, strings.HasSuffix(msg, "more problems not shown"), "past 500 problems, they are counted")
	assert.LessOrEqual(t, len(unjoin(err)), 502, "500, the budget and the count")
	assert.Less(t, time.Since(began), 10*time.Second)
}

// TestDurations: Go's syntax, nothing else, each refusal with the fix.
func TestDurations(t *testing.T) {
	good := map[string]time.Duration{
		"0": 0, `"0"`: 0, "0s": 0, "1ns": 1, "250us": 250 * time.Microsecond, "250µs": 250 * time.Microsecond,
		"1.5s": 1500 * time.Millisecond, "2m": 2 * time.Minute, "1h30m": 90 * time.Minute, ".5s": 500 * time.Millisecond,
	}
	for in, want := range good {
		f, err := spec.Parse("t.yaml", []byte("children: [{name: a, command: sleep, ready_timeout: "+in+"}]"))
		if in == "0" || in == `"0"` || in == "0s" {
			require.Error(t, err, in)
			assert.Contains(t, err.Error(), "0s must be positive", in)
			continue
		}
		require.NoError(t, err, in)
		assert.Equal(t, want, f.Tree.Children[0].Process.ReadyTimeout, in)
	}
	bad := map[string]string{
		"5":           `5 has no unit (add a unit: 5ms or 5s)`,
		"1.5":         `1.5 has no unit (add a unit: 1.5ms or 1.5s)`,
		`"5"`:         `"5" has no unit (add a unit: 5ms or 5s)`,
		"5 ms":        `"5 ms": a space inside a duration (write 5ms)`,
		"1 h 30 m":    `"1 h 30 m": a space inside a duration (write 1h30m)`,
		"5e-3s":       `"5e-3s": exponents are not accepted in durations (write 5ms)`,
		"1E2ms":       `"1E2ms": exponents are not accepted in durations (write 100ms)`,
		"10d":         `"10d": unknown unit 'd' (write 240h)`,
		"2min":        `"2min": unknown unit 'min' (write 2m)`,
		"3 seconds":   `"3 seconds" is not a duration (write 3s)`,
		"5S":          `"5S": unknown unit 'S' (write 5s)`,
		"5fortnights": `"5fortnights": unknown unit 'fortnights' (a number and a unit: ns, us, ms, s, m or h)`,
		"soon":        `"soon" is not a duration (a number and a unit: ns, us, ms, s, m or h, such as 250ms or 1m30s)`,
		`""`:          `empty duration (such as 250ms or 5s)`,
		"[1s]":        `want a duration such as 250ms or 5s, got a list`,
		"true":        `want a duration such as 250ms or 5s, got true`,
		"-1s":         `-1s must be positive (leave it out for the default, 10s)`,
	}
	for in, want := range bad {
		_, err := spec.Parse("t.yaml", []byte("children: [{name: a, command: sleep, ready_timeout: "+in+"}]"))
		require.Error(t, err, in)
		assert.Equal(t, "t.yaml:1:53: children[0].ready_timeout: "+want, err.Error(), in)
	}
}

func TestPreflight(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script.sh")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))
	file := filepath.Join(dir, "t.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
children:
  - {name: a, command: no-such-program-understudy}
  - {name: b, command: ./missing/prog}
  - {name: c, command: ./script.sh}
  - {name: d, command: "sleep 10"}
  - {name: e, command: sleep, dir: ./nowhere}
  - {name: f, command: sleep, stdout: ./logs/f.log}
  - {name: g, command: sleep, dir: ., stdout: ./f.log}
audio:
  nodes: [{name: s, kind: sine, params: {freq: 1}}]
  output: ./renders/out.wav
`), 0o644))
	f, err := spec.Load(file)
	require.NoError(t, err, "loading does not look at the host")
	err = f.Preflight()
	require.Error(t, err)
	assert.Equal(t, strings.Join([]string{
		file + ":3:24: children[0].command: executable 'no-such-program-understudy' not found in $PATH",
		file + ":4:24: children[1].command: no executable '" + filepath.Join(dir, "missing/prog") + "'",
		file + ":5:24: children[2].command: '" + notExec + "' is not an executable file",
		file + ":6:24: children[3].command: executable 'sleep 10' not found in $PATH (a command is not split on spaces: write command: [sleep, 10])",
		file + ":7:36: children[4].dir: '" + filepath.Join(dir, "nowhere") + "' is not a directory",
		file + ":8:39: children[5].stdout: no directory '" + filepath.Join(dir, "logs") + "' for the output file (create it first)",
		file + ":12:11: audio.output.path: no directory '" + filepath.Join(dir, "renders") + "' for the WAV file (create it first)",
	}, "\n"), err.Error())
	var se *spec.Error
	assert.ErrorAs(t, err, &se)
}

func TestPositions(t *testing.T) {
	f, err := spec.Parse("t.yaml", []byte(`children:
  - name: a
    worker: wait
    standby: 2
  - name: n
    supervisor:
      children:
        - {name: b, command: sleep}
audio:
  nodes: [{name: s, kind: sine, params: {freq: 1}}]
  edges: []
`))
	require.NoError(t, err)
	pos := func(field string) string {
		p, ok := f.Pos(field)
		if !ok {
			return "?" + p
		}
		return p
	}
	assert.Equal(t, "t.yaml:3:13", pos("Children[0].Process.Worker"))
	assert.Equal(t, "t.yaml:2:5", pos("Children[0].Process.Heartbeat.Timeout"), "not written: the child")
	assert.Equal(t, "t.yaml:8:30", pos("Children[1].Supervisor.Children[0].Process.Path"))
	assert.Equal(t, "t.yaml:10:48", pos(`Audio.Config.Graph.Nodes[0].Params["freq"]`))
	assert.Equal(t, "?t.yaml:0:0", pos("Nothing[3]"))
	assert.Equal(t, 2, f.Tree.Children[0].Standby)
}

// TestLoadEmptySupervisors: a supervisor may start with no children.
func TestLoadEmptySupervisors(t *testing.T) {
	f, err := spec.Parse("t.yaml", []byte(`children:
  - {name: pool, supervisor: {children: []}}
`))
	require.NoError(t, err)
	assert.Empty(t, f.Tree.Children[0].Supervisor.Children)
	f, err = spec.Parse("t.yaml", []byte("children: []\n"))
	require.NoError(t, err)
	assert.Empty(t, f.Tree.Children)
}

// TestLoadTakeover: takeover beside nodes, read and written back; with
// one node, the tree refuses it by name.
func TestLoadTakeover(t *testing.T) {
	src := "cluster: {nodes: {a: 127.0.0.1:7401, b: 127.0.0.1:7402}}\nchildren:\n  - {name: web, command: sh, nodes: [a, b], takeover: true}\n"
	f, err := spec.Parse("/tmp/t.yaml", []byte(src))
	require.NoError(t, err)
	assert.True(t, f.Tree.Children[0].Takeover)
	out, err := spec.Marshal(f)
	require.NoError(t, err)
	assert.Contains(t, string(out), "takeover: true")

	f.Tree.Children[0].Nodes = []string{"a"}
	err = f.Tree.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Children[0].Takeover")
}

// TestLoadRemoteSubtree: nodes and takeover on a supervisor child, read
// and written back; nodes inside such a subtree are refused by name.
func TestLoadRemoteSubtree(t *testing.T) {
	src := "cluster: {nodes: {a: 127.0.0.1:7401, b: 127.0.0.1:7402}}\nchildren:\n" +
		"  - {name: shop, nodes: [a, b], takeover: true, supervisor: {children: [{name: web, command: sh}]}}\n"
	f, err := spec.Parse("/tmp/t.yaml", []byte(src))
	require.NoError(t, err)
	c := f.Tree.Children[0]
	assert.Equal(t, []string{"a", "b"}, c.Nodes)
	assert.True(t, c.Takeover)
	require.NotNil(t, c.Supervisor)
	out, err := spec.Marshal(f)
	require.NoError(t, err)
	back, err := spec.Parse("/tmp/t.yaml", out)
	require.NoError(t, err, "%s", out)
	assert.Equal(t, c.Nodes, back.Tree.Children[0].Nodes)
	assert.True(t, back.Tree.Children[0].Takeover)

	inner := strings.Replace(src, "command: sh}", "command: sh, nodes: [b]}", 1)
	_, err = spec.Parse("/tmp/t.yaml", []byte(inner))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot name nodes")
}

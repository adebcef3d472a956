//go:build linux

package audio

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// buildCBiquad builds the C example node (examples/cnode) with the
// system's C compiler as C11, warnings as errors, into dir. Without a
// compiler the test is skipped, unless UNDERSTUDY_SDK_REQUIRED=1.
func buildCBiquad(t testing.TB, dir string) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		if os.Getenv("UNDERSTUDY_SDK_REQUIRED") == "1" {
			t.Fatalf("cc is missing and UNDERSTUDY_SDK_REQUIRED=1: %v", err)
		}
		t.Skipf("cc is missing: %v", err)
	}
	out := filepath.Join(dir, "biquad")
	cmd := exec.Command(cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-pthread",
		"-I../sdk/c", "-o", out, "../examples/cnode/biquad.c", "../sdk/c/understudy_node.c", "../sdk/c/understudy.c", "-lm")
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", msg)
	return out
}

// cGraph is the test signal's two sines summed into the C biquad (fan-in
// at an exec node), which feeds a Go gain (an exec node waking a Go one),
// which feeds a second C node that feeds nothing (a Go node waking an exec
// one, and an exec node ending the cycle); beside them the Go lowpass with
// the same input and parameters as the first C node.
func cGraph(path string, block int) (Graph, []Port) {
	return Graph{
		Rate: 48000, BlockSize: block,
		Nodes: []Node{
			{Name: "src", Kind: "testsignal"},
			{Name: "cbq", Kind: "exec", Path: path, Params: Params{"freq": 1000}},
			{Name: "amp", Kind: "gain", Params: Params{"gain": 0.5}},
			{Name: "lp", Kind: "lowpass", Params: Params{"freq": 1000}},
			{Name: "c2", Kind: "exec", Path: path, Params: Params{"freq": 300, "q": 2}},
		},
		Edges: []Edge{
			edge("src", 1, "cbq", 0), edge("src", 2, "cbq", 0),
			edge("cbq", 0, "amp", 0),
			edge("src", 1, "lp", 0), edge("src", 2, "lp", 0),
			edge("amp", 0, "c2", 0),
		},
	}, []Port{{"src", 0}, {"cbq", 0}, {"amp", 0}, {"lp", 0}, {"c2", 0}}
}

// TestExecNode: a node served by the C example renders offline (its
// executable run block by block) and in the engine bit-identically, and
// the same as the Go lowpass sample for sample; through a SIGKILL at each
// point of its cycle, a hang, a crash and an overrun, its render is still
// bit-identical, with one failover each.
func TestExecNode(t *testing.T) {
	path := buildCBiquad(t, t.TempDir())
	const blocks = 200
	g, sink := cGraph(path, 64)
	want, err := Render(&g, sink, blocks)
	require.NoError(t, err)
	var diff int
	for f := 0; f < len(want); f += len(sink) {
		if want[f+1] != want[f+3] {
			diff++
		}
	}
	assert.Zero(t, diff, "the C biquad and the Go lowpass differ in %d of %d samples", diff, len(want)/len(sink))

	_, got := render(t, Config{Graph: g, Sink: sink, Watchdog: 2 * time.Second}, blocks)
	cmp, err := Compare(want, got, len(sink), CompareOptions{})
	require.NoError(t, err)
	require.True(t, cmp.GlitchFree, "fault-free: %v", cmp)

	type tc struct{ kind, point string }
	var cases []tc
	for _, p := range faultPoints {
		cases = append(cases, tc{"kill", p})
	}
	cases = append(cases, tc{"hang", "before-compute"}, tc{"segv", "after-output"}, tc{"overrun", "after-commit"})
	for k, c := range cases {
		node := []string{"cbq", "c2"}[k%2]
		t.Run(c.kind+"/"+c.point+"/"+node, func(t *testing.T) {
			f := Fault{Node: node, Cycle: 60, Kind: c.kind, Point: c.point}
			if c.kind == "overrun" {
				f.Spin = 200 * time.Millisecond
			}
			rep, got := render(t, Config{Graph: g, Sink: sink, Watchdog: 20 * time.Millisecond, Faults: []Fault{f}}, blocks)
			cmp, err := Compare(want, got, len(sink), CompareOptions{})
			require.NoError(t, err)
			assert.True(t, cmp.GlitchFree, "%v", cmp)
			fo := struckFailover(t, rep)
			assert.Equal(t, node, fo.Node)
			assert.Equal(t, c.kind, fo.Fault)
			t.Log(fo)
		})
	}
}

// TestExecNodeColdRestart SIGKILLs the primary and the spare of a C node
// together, in real time: the supervisor starts its executable again cold,
// which finds no committed state, places itself where the bus is, and the
// run goes on to its end.
func TestExecNodeColdRestart(t *testing.T) {
	path := buildCBiquad(t, t.TempDir())
	g, sink := cGraph(path, 128)
	const blocks, killAt = 500, 100
	cfg := Config{Graph: g, Sink: sink, RealTime: true, Slack: NoSlack, WAV: filepath.Join(t.TempDir(), "out.wav")}
	reached := make(chan struct{})
	e, err := startEngine(ctxT(t), cfg, func(e *Engine) {
		e.cycleHook = func(C uint64) {
			if C == killAt {
				close(reached)
			}
		}
	})
	require.NoError(t, err)
	defer e.Close(ctxT(t))
	sub := e.Tree().Subscribe(context.Background(), 256)
	done := runInBackground(t, e, blocks)
	select {
	case <-reached:
	case <-time.After(testDeadline / 2):
		t.Fatal("the run did not reach the block to kill at")
	}
	killAll(t, e, e.hostIndex["cbq"])
	awaitTree(t, sub, func(ev supervision.Event) bool {
		r, ok := ev.(supervision.ChildRestarting)
		return ok && r.Child == "cbq"
	})
	res := <-done
	require.NoError(t, res.err, "a cold restart does not end the run")
	rep := res.rep
	t.Log(rep)
	assert.Equal(t, uint64(blocks), rep.Cycles)
	require.Len(t, rep.Restarts, 1, "%v", rep)
	assert.Equal(t, "cbq", rep.Restarts[0].Node)
	for _, n := range rep.Nodes {
		if n.Name == "cbq" {
			assert.Equal(t, uint64(blocks), n.Cycles, "the restarted node served to the end")
		}
	}
}

// TestExecNodeErrors: each mistake in an exec node is reported on its
// field, with its value.
func TestExecNodeErrors(t *testing.T) {
	path := buildCBiquad(t, t.TempDir())
	for _, tc := range []struct {
		name  string
		node  Node
		field string
		msg   string
	}{
		{"no path", Node{Kind: "exec"}, "Nodes[1].Path", "needs path"},
		{"path on a Go kind", Node{Kind: "lowpass", Path: path, Params: Params{"freq": 1000}}, "Nodes[1].Path", "only a node of kind exec"},
		{"no such file", Node{Kind: "exec", Path: "/nonexistent/biquad"}, "Nodes[1].Path", "no such file or directory"},
		{"not executable", Node{Kind: "exec", Path: "exec_test.go"}, "Nodes[1].Path", "not an executable file"},
		{"not a node", Node{Kind: "exec", Path: "/bin/true"}, "Nodes[1].Path", "printed nothing"},
		{"required", Node{Kind: "exec", Path: path}, `Nodes[1].Params["freq"]`, "required"},
		{"unknown", Node{Kind: "exec", Path: path, Params: Params{"freq": 1000, "gain": 2}}, `Nodes[1].Params["gain"]`, "unknown parameter (known: freq, q)"},
		{"out of range", Node{Kind: "exec", Path: path, Params: Params{"freq": 1000, "q": 500}}, `Nodes[1].Params["q"]`, "out of range [0.1, 100]"},
		{"the program's own check", Node{Kind: "exec", Path: path, Params: Params{"freq": 30000}}, `Nodes[1].Params["freq"]`, "below rate/2"},
		{"shared process", Node{Kind: "exec", Path: path, Params: Params{"freq": 1000}, Process: "p"}, "Nodes[1].Process", "own process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.node.Name = "x"
			g := Graph{Rate: 48000, BlockSize: 64, Nodes: []Node{{Name: "src", Kind: "testsignal"}, tc.node}}
			err := g.Validate()
			require.ErrorIs(t, err, ErrInvalidGraph)
			var fe *procbridge.SpecError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
			assert.ErrorContains(t, err, tc.msg)
		})
	}
	err := RegisterKind(Kind{Name: "exec", New: func(int, Params) (Processor, error) { return nil, nil }})
	assert.ErrorIs(t, err, ErrInvalidGraph)
	assert.ErrorContains(t, err, "reserved")
}

// FuzzParseDesc: whatever an executable prints, the description is read
// or refused with an error, never a panic, and what is read is in bounds.
func FuzzParseDesc(f *testing.F) {
	f.Add([]byte("understudy-node 1\ninputs 1\noutputs 1\nstate 16\nparam freq 0 1e9 0 1 0\nend\n"))
	f.Add([]byte("understudy-node 2\nend\n"))
	f.Add([]byte("understudy-node 1\ninputs 99999\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		d, err := parseDesc(out)
		if err != nil {
			return
		}
		if d.Inputs < 0 || d.Inputs > maxExecPorts || d.Outputs < 0 || d.Outputs > maxExecPorts ||
			d.State < 0 || d.State > maxExecState || len(d.Params) > maxExecParams {
			t.Fatalf("out of bounds: %+v", d)
		}
		k := Kind{Name: execKind, Params: d.Params, New: func(int, Params) (Processor, error) { return nil, nil }}
		if err := new(registry).register(Kind{Name: "x", Params: k.Params, New: k.New}); err != nil {
			t.Fatalf("a description read is not a valid kind: %v", err)
		}
	})
}

// BenchmarkExecFailover: the failover of a node served by the C example
// beside that of the Go lowpass, in the same engine run (real time, 128
// frames, one block of slack): each iteration SIGKILLs one of them, in
// turn, before it computes a block, and runs 200 ms. Detect is from the
// kill to the spare's promotion, switch from there to its first block
// published, both from the engine's report; the render must stay
// bit-identical to Render's.
func BenchmarkExecFailover(b *testing.B) {
	path := buildCBiquad(b, b.TempDir())
	prio := slices.Max(benchPriorities())
	g, sink := cGraph(path, 128)
	wav := b.TempDir() + "/out.wav"
	e, err := Start(context.Background(), Config{Graph: g, Sink: sink, WAV: wav, RealTime: true, Slack: 1, Priority: prio})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(context.Background())
	per := uint64(200 * 48000 / 128 / 1000) // 200 ms: a replacement spare is parked before the node's next fault
	var k int
	var rep Report
	for b.Loop() {
		e.faults = append(e.faults, Fault{Node: []string{"cbq", "lp"}[k%2], Cycle: e.cycle + per/2, Kind: "kill"})
		k++
		if rep, err = e.Run(context.Background(), per); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	got, err := readWAVFile(wav)
	if err != nil {
		b.Fatal(err)
	}
	want, err := Render(&g, sink, int(rep.Cycles))
	if err != nil {
		b.Fatal(err)
	}
	cmp, _ := Compare(want, got, len(sink), CompareOptions{})
	if os.Getenv("AUDIO_BENCH_REPORT") != "" {
		b.Logf("%v\n%v", rep, cmp)
	}
	samples := map[string][2][]int64{}
	for _, fo := range rep.Failovers {
		s := samples[fo.Node]
		s[0] = append(s[0], int64(fo.Detect))
		s[1] = append(s[1], int64(fo.Switch))
		samples[fo.Node] = s
	}
	for node, prefix := range map[string]string{"cbq": "c-", "lp": "go-"} {
		percentiles(b, samples[node][0], prefix+"detect-")
		percentiles(b, samples[node][1], prefix+"switch-")
	}
	b.ReportMetric(float64(len(rep.Failovers)), "failovers")
	b.ReportMetric(float64(rep.Missing), "missing")
	b.ReportMetric(float64(rep.FaultsPostponed), "postponed")
	if cmp.GlitchFree {
		b.ReportMetric(1, "bit-identical")
	} else {
		b.ReportMetric(0, "bit-identical")
	}
}

func readWAVFile(path string) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, _, samples, err := ReadWAV(f)
	return samples, err
}

// TestExecNodeStartFails: an executable that describes itself but will not
// serve (it exits at once in node mode) fails Start with an error naming
// the node and its exit, without a hang.
func TestExecNodeStartFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refuse")
	require.NoError(t, os.WriteFile(path, []byte(`#!/bin/sh
case "$1" in
--understudy-describe) printf 'understudy-node 1\ninputs 1\noutputs 1\nstate 0\nend\n' ;;
--understudy-check) echo ok ;;
*) echo "refuse: will not serve" >&2; exit 2 ;;
esac
`), 0o755))
	g := Graph{Rate: 48000, BlockSize: 128,
		Nodes: []Node{{Name: "src", Kind: "testsignal"}, {Name: "x", Kind: "exec", Path: path}},
		Edges: []Edge{edge("src", 1, "x", 0)},
	}
	require.NoError(t, g.Validate())
	e, err := Start(ctxT(t), Config{Graph: g, Sink: []Port{{"x", 0}}, WAV: filepath.Join(t.TempDir(), "out.wav"),
		Stderr: procbridge.Discard})
	if err == nil {
		e.Close(ctxT(t))
		t.Fatal("Start succeeded with a node that exits at once")
	}
	assert.ErrorContains(t, err, "x")
	t.Log(err)
}

//go:build linux

package audio

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
// at an exec node), which feeds a Go gain (an exec node waking a Go one);
// beside it the Go lowpass with the same input and parameters.
func cGraph(path string, block int) (Graph, []Port) {
	return Graph{
		Rate: 48000, BlockSize: block,
		Nodes: []Node{
			{Name: "src", Kind: "testsignal"},
			{Name: "cbq", Kind: "exec", Path: path, Params: Params{"freq": 1000}},
			{Name: "amp", Kind: "gain", Params: Params{"gain": 0.5}},
			{Name: "lp", Kind: "lowpass", Params: Params{"freq": 1000}},
		},
		Edges: []Edge{
			edge("src", 1, "cbq", 0), edge("src", 2, "cbq", 0),
			edge("cbq", 0, "amp", 0),
			edge("src", 1, "lp", 0), edge("src", 2, "lp", 0),
		},
	}, []Port{{"src", 0}, {"cbq", 0}, {"amp", 0}, {"lp", 0}}
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
	for _, c := range cases {
		t.Run(c.kind+"/"+c.point, func(t *testing.T) {
			f := Fault{Node: "cbq", Cycle: 60, Kind: c.kind, Point: c.point}
			if c.kind == "overrun" {
				f.Spin = 200 * time.Millisecond
			}
			rep, got := render(t, Config{Graph: g, Sink: sink, Watchdog: 20 * time.Millisecond, Faults: []Fault{f}}, blocks)
			cmp, err := Compare(want, got, len(sink), CompareOptions{})
			require.NoError(t, err)
			assert.True(t, cmp.GlitchFree, "%v", cmp)
			require.Len(t, rep.Failovers, 1, "%v", rep)
			fo := rep.Failovers[0]
			assert.Equal(t, "cbq", fo.Node)
			assert.Equal(t, c.kind, fo.Fault)
			t.Log(fo)
		})
	}
}

//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/audio"
)

// graphSpec is the engine's own test chain: a test signal, a delay and a
// gain, recording the frame counter, the gain's output and the delayed sine.
const graphSpec = `
audio:
  rate: 48000
  block_size: 128
  duration: 500ms
  nodes:
    - {name: src, kind: testsignal}
    - {name: dly, kind: delay, params: {samples: 300}}
    - {name: amp, kind: gain, params: {gain: 0.5}}
  edges:
    - src:1 -> dly:0
    - dly -> amp
  output:
    path: out.wav
    ports: [src:0, amp:0, src:2]
`

func readRender(t *testing.T, path string) (rate, channels int, samples []float32) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	rate, channels, samples, err = audio.ReadWAV(f)
	require.NoError(t, err)
	return rate, channels, samples
}

// TestRender renders with the supervised engine, a node killed and another
// hung on the way, and checks the report and the file.
func TestRender(t *testing.T) {
	path := writeSpec(t, graphSpec)
	status, out, errOut := runCLI(t, "", "render", "--fault", "dly@50", "--fault", "amp@100:hang", path)
	require.Equal(t, exitOK, status, "%s\n%s", out, errOut)
	assert.Contains(t, out, "failovers 2, faults struck 2")
	assert.Contains(t, out, "dly: failover at block 50 (died, injected kill, recomputed)")
	assert.Contains(t, out, "rendered 24064 frames (501.333ms at 48000 Hz) of src:0, amp:0, src:2 to "+filepath.Join(filepath.Dir(path), "out.wav"))
	assert.Contains(t, out, "glitch report (against the in-process reference):\n  identical: yes, 24064 frames x 3 channels\n  counter: continuous\n  latency: 0 frames\nverdict: glitch-free\n")

	rate, channels, samples := readRender(t, filepath.Join(filepath.Dir(path), "out.wav"))
	assert.Equal(t, 48000, rate)
	assert.Equal(t, 3, channels)
	g := audio.Graph{Rate: 48000, BlockSize: 128,
		Nodes: []audio.Node{{Name: "src", Kind: "testsignal"}, {Name: "dly", Kind: "delay", Params: audio.Params{"samples": 300}}, {Name: "amp", Kind: "gain", Params: audio.Params{"gain": 0.5}}},
		Edges: []audio.Edge{{From: audio.Port{Node: "src", Port: 1}, To: audio.Port{Node: "dly"}}, {From: audio.Port{Node: "dly"}, To: audio.Port{Node: "amp"}}}}
	want, err := audio.Render(&g, []audio.Port{{Node: "src"}, {Node: "amp"}, {Node: "src", Port: 2}}, 188)
	require.NoError(t, err)
	assert.Equal(t, want, samples, "the file is the reference, bit for bit")
}

func TestRenderReference(t *testing.T) {
	path := writeSpec(t, graphSpec)
	wav := filepath.Join(t.TempDir(), "ref.wav")
	status, out, errOut := runCLI(t, "", "render", "--reference", "--duration", "10ms", "--out", wav, path)
	require.Equal(t, exitOK, status, "%s\n%s", out, errOut)
	assert.Equal(t, "rendered 512 frames (10.667ms at 48000 Hz) of src:0, amp:0, src:2 to "+wav+
		" in 0s\nengine: the in-process reference (no processes, no faults); glitch check: not run\n", stripTook(out))
	_, channels, samples := readRender(t, wav)
	assert.Equal(t, 3, channels)
	assert.Len(t, samples, 512*3)
}

// stripTook replaces the render's wall time by 0s.
func stripTook(s string) string {
	i := strings.Index(s, " in ")
	j := strings.Index(s, "\n")
	if i < 0 || j < i {
		return s
	}
	return s[:i] + " in 0s" + s[j:]
}

func TestRenderBadInput(t *testing.T) {
	tree := writeSpec(t, "children: [{name: a, command: sleep}]\n")
	status, _, errOut := runCLI(t, "", "render", tree)
	assert.Equal(t, exitInvalid, status)
	assert.Equal(t, tree+": no audio graph: declare one under audio: (see docs/spec-reference.md)\n", errOut)

	noOut := writeSpec(t, "audio: {nodes: [{name: t, kind: testsignal}]}\n")
	status, _, errOut = runCLI(t, "", "render", noOut)
	assert.Equal(t, exitInvalid, status)
	assert.Equal(t, noOut+": audio.output: no output file to render to (add output: out.wav, or pass --out PATH)\n", errOut)

	allFed := writeSpec(t, "audio:\n  nodes: [{name: s, kind: sine, params: {freq: 1}}, {name: g, kind: gain}]\n  edges: [s -> g, g -> g]\n  output: o.wav\n")
	status, _, errOut = runCLI(t, "", "render", allFed)
	assert.Equal(t, exitInvalid, status)
	assert.Contains(t, errOut, "audio.edges: the edges form a cycle: g -> g")

	badPort := writeSpec(t, "audio:\n  nodes: [{name: s, kind: sine, params: {freq: 1}}]\n  output: {path: o.wav, ports: [s:1]}\n")
	status, _, errOut = runCLI(t, "", "render", badPort)
	assert.Equal(t, exitInvalid, status)
	assert.Equal(t, badPort+":3:33: audio.output.ports[0]: 1: node \"s\" (sine) has 1 outputs\n", errOut)

	for _, tt := range []struct{ flag, want string }{
		{"x", `invalid value "x" for flag -fault: "x": want NODE@BLOCK[:KIND[:POINT]], such as osc@100:kill`},
		{"a@0", `invalid value "a@0" for flag -fault: "a@0": block "0": want a whole number from 1`},
		{"a@3:melt", `invalid value "a@3:melt" for flag -fault: "a@3:melt": fault "melt": want kill, hang, overrun or segv`},
		{"a@3:kill:later", `invalid value "a@3:kill:later" for flag -fault: "a@3:kill:later": point "later": want before-compute, after-output, after-commit or after-publish`},
	} {
		status, _, errOut = runCLI(t, "", "render", "--fault", tt.flag, noOut)
		assert.Equal(t, exitUsage, status, tt.flag)
		assert.Contains(t, errOut, "understudy render: "+tt.want, tt.flag)
	}
	status, _, errOut = runCLI(t, "", "render", "--fault", "ghost@3", "--out", filepath.Join(t.TempDir(), "o.wav"), noOut)
	assert.Equal(t, exitFailed, status)
	assert.Contains(t, errOut, `Faults[0].Node = "ghost": no such node`)
}

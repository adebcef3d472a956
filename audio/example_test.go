package audio_test

import (
	"fmt"
	"io"
	"os"

	"github.com/understudy/understudy/audio"
)

// A graph is validated and scheduled in levels of nodes that may run in
// parallel.
func ExampleGraph_Schedule() {
	g := audio.Graph{
		Rate:      48000,
		BlockSize: 128,
		Nodes: []audio.Node{
			{Name: "sig", Kind: "testsignal"},
			{Name: "hum", Kind: "sine", Params: audio.Params{"freq": 50, "amp": 0.1}},
			{Name: "mix", Kind: "mixer", Params: audio.Params{"inputs": 2}},
			{Name: "notch", Kind: "peak", Params: audio.Params{"freq": 50, "q": 10, "gain_db": -40}},
		},
		Edges: []audio.Edge{
			{From: audio.Port{Node: "sig", Port: 1}, To: audio.Port{Node: "mix", Port: 0}},
			{From: audio.Port{Node: "hum", Port: 0}, To: audio.Port{Node: "mix", Port: 1}},
			{From: audio.Port{Node: "mix", Port: 0}, To: audio.Port{Node: "notch", Port: 0}},
		},
	}
	s, err := g.Schedule()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Levels)

	g.Edges = append(g.Edges, audio.Edge{From: audio.Port{Node: "notch"}, To: audio.Port{Node: "mix", Port: 2}})
	fmt.Println(g.Validate())
	// Output:
	// [[sig hum] [mix] [notch]]
	// audio: graph: Edges[3].To.Port = 2: node "mix" (mixer) has inputs 0..1
}

// A standby resumes from the state its primary committed, and the output is
// the same as if nothing had happened.
func ExampleCompare() {
	const rate, block, blocks = 8000, 64, 250
	kinds := audio.Builtin()
	render := func(failAt int) []float32 {
		var out []float32
		p, _ := kinds.New("testsignal", rate, nil)
		committed := make([]byte, p.StateSize())
		ports := [][]float32{make([]float32, block), make([]float32, block), make([]float32, block)}
		for b := range blocks {
			if b == failAt {
				// The primary dies; a standby built alike takes the state.
				p, _ = kinds.New("testsignal", rate, nil)
			}
			p.Process(committed, nil, ports)
			for i := range block {
				out = append(out, ports[0][i], ports[1][i], ports[2][i])
			}
		}
		return out
	}
	r, err := audio.Compare(render(-1), render(100), 3, audio.CompareOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(r)
	fmt.Println("glitch-free:", r.GlitchFree())
	// Output:
	// identical: yes, 16000 frames x 3 channels
	// counter: continuous
	// latency: 0 frames
	// glitch-free: true
}

// Parameters are checked against their kind; errors name the parameter and
// the value.
func ExampleRegistry_New() {
	_, err := audio.Builtin().New("delay", 48000, audio.Params{"samples": 0.5})
	fmt.Println(err)
	// Output:
	// audio: delay: samples = 0.5: out of range [1, 192000]
}

func ExampleNewWAVWriter() {
	f, err := os.CreateTemp("", "render-*.wav")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()

	w, err := audio.NewWAVWriter(f, 48000, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := w.WriteFrames([]float32{0, 0.5, 0.25, -0.5}); err != nil {
		fmt.Println(err)
		return
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
		return
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		fmt.Println(err)
		return
	}
	rate, channels, samples, err := audio.ReadWAV(f)
	fmt.Println(rate, channels, samples, err)
	// Output:
	// 48000 2 [0 0.5 0.25 -0.5] <nil>
}

package audio_test

import (
	"bytes"
	"fmt"

	"github.com/understudy/understudy/audio"
)

// A graph is validated as a whole: every problem is reported at once, each
// naming the field at fault and its value.
func ExampleGraph_Validate() {
	g := audio.Graph{
		Rate:      48000,
		BlockSize: 128,
		Nodes: []audio.Node{
			{Name: "sig", Kind: "testsignal"},
			{Name: "hum", Kind: "sine", Params: audio.Params{"freq": 50, "amp": 0.1}},
			{Name: "mix", Kind: "mixer", Params: audio.Params{"inputs": 2}},
			{Name: "notch", Kind: "peak", Params: audio.Params{"freq": 50, "q": 10, "gain_db": -40}},
			{Name: "echo", Kind: "delay", Params: audio.Params{"samples": 0.5}},
		},
		Edges: []audio.Edge{
			{From: audio.Port{Node: "sig", Port: 1}, To: audio.Port{Node: "mix", Port: 0}},
			{From: audio.Port{Node: "hum", Port: 0}, To: audio.Port{Node: "mix", Port: 1}},
			{From: audio.Port{Node: "mix", Port: 0}, To: audio.Port{Node: "notch", Port: 0}},
			{From: audio.Port{Node: "notch"}, To: audio.Port{Node: "mix", Port: 2}},
		},
	}
	fmt.Println(g.Validate())
	// Output:
	// audio: invalid graph: Nodes[4].Params["samples"] = 0.5: node "echo" (delay): out of range [1, 192000]
	// audio: invalid graph: Edges[3].To.Port = 2: node "mix" (mixer) has inputs 0..1
}

// A render compared with its reference: a block dropped in the middle
// shows as a break in the test signal's counter.
func ExampleCompare() {
	g := audio.Graph{
		Rate: 8000, BlockSize: 64,
		Nodes: []audio.Node{{Name: "sig", Kind: "testsignal"}},
	}
	sink := []audio.Port{{Node: "sig", Port: 0}, {Node: "sig", Port: 1}, {Node: "sig", Port: 2}}
	want, err := audio.Render(&g, sink, 250)
	if err != nil {
		fmt.Println(err)
		return
	}
	const frame, block = 3, 64
	got := append(want[:100*block*frame:100*block*frame], want[101*block*frame:]...)
	r, err := audio.Compare(want, got, frame, audio.CompareOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(r)
	fmt.Println("glitch-free:", r.GlitchFree)
	// Output:
	// identical: no, 27259 of 48000 samples differ, the first at frame 6400 channel 0
	// length: 15936 frames, reference 16000
	// counter: breaks at frame 6400: 6399 then 6464
	// latency: 0 frames
	// glitch-free: false
}

// Samples written as a float32 WAV stream read back as they were.
func ExampleWriteWAV() {
	var buf bytes.Buffer
	if err := audio.WriteWAV(&buf, 48000, 2, []float32{0, 0.5, 0.25, -0.5}); err != nil {
		fmt.Println(err)
		return
	}
	rate, channels, samples, err := audio.ReadWAV(&buf)
	fmt.Println(rate, channels, samples, err)
	// Output:
	// 48000 2 [0 0.5 0.25 -0.5] <nil>
}

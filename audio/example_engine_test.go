//go:build linux

package audio_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/understudy/understudy/audio"
)

// An engine runs each node in its own process with a hot spare. Here the
// delay line's primary is SIGKILLed in the middle of block 50, after it
// wrote its output and before it committed its state; its spare computes
// the block again from the last committed state, and the render is
// bit-identical to the fault-free reference. (The program calls
// worker.Main first: here the test binary's TestMain does.)
func ExampleEngine() {
	g := audio.Graph{
		Rate: 48000, BlockSize: 128,
		Nodes: []audio.Node{
			{Name: "src", Kind: "testsignal"},
			{Name: "dly", Kind: "delay", Params: audio.Params{"samples": 480}},
			{Name: "amp", Kind: "gain", Params: audio.Params{"gain": 0.5}},
		},
		Edges: []audio.Edge{
			{From: audio.Port{Node: "src", Port: 1}, To: audio.Port{Node: "dly"}},
			{From: audio.Port{Node: "dly"}, To: audio.Port{Node: "amp"}},
		},
	}
	sink := []audio.Port{{Node: "src", Port: 0}, {Node: "amp"}}
	dir, _ := os.MkdirTemp("", "engine-example")
	defer os.RemoveAll(dir)
	wav := filepath.Join(dir, "out.wav")

	ctx := context.Background()
	e, err := audio.Start(ctx, audio.Config{
		Graph: g, Sink: sink, WAV: wav,
		Faults: []audio.Fault{{Node: "dly", Cycle: 50, Kind: "kill", Point: "after-output"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := e.Run(ctx, 100)
	e.Close(ctx) // completes the WAV file
	if err != nil {
		fmt.Println(err)
		return
	}
	f := rep.Failovers[0]
	fmt.Printf("%d blocks, %d failover: %s of %s at block %d, %s\n", rep.Cycles, len(rep.Failovers), f.Fault, f.Node, f.Cycle, f.Recovery)

	file, _ := os.Open(wav)
	_, channels, got, _ := audio.ReadWAV(file)
	file.Close()
	want, _ := audio.Render(&g, sink, 100)
	cmp, _ := audio.Compare(want, got, channels, audio.CompareOptions{})
	fmt.Println("glitch-free:", cmp.GlitchFree && rep.GlitchFree)
	// Output:
	// 100 blocks, 1 failover: kill of dly at block 50, recomputed
	// glitch-free: true
}

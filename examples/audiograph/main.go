// Command audiograph plays a test signal through a delay line and a gain,
// each node in its own process with a hot spare, the processes children of
// the engine's supervision tree, in real time for 10 seconds at 128
// frames, and knocks a node out every second in turn: a
// SIGKILL, a hang (SIGSTOP), an overrun (a busy loop three periods long).
// It prints every failover as it happens, then the report (failovers,
// detection and switch times, late and missing blocks) and the glitch
// verdict against a fault-free offline render, and writes out.wav. It exits
// 0 when the output is glitch-free: bit-identical to the reference, the
// counter continuous, the latency unchanged, no block late or missing; 3
// when its only glitches are blocks missing in machine stalls (the machine
// did not run the engine's driver for a block's slack: a host pausing a
// virtual machine, say), every other block bit-identical; 1 otherwise.
//
//	go run ./examples/audiograph
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/understudy/understudy/audio"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
	"github.com/understudy/understudy/supervision"
)

func main() {
	worker.Main() // the node processes are this program, re-executed

	seconds := flag.Int("seconds", 10, "how long to play")
	block := flag.Int("block", 128, "frames per block")
	slack := flag.Int("slack", 1, "output slack in blocks (0 for none)")
	out := flag.String("o", "out.wav", "the WAV file to write")
	prio := flag.Int("priority", 10, "SCHED_FIFO priority of the node loops and the driver (0: normal scheduling)")
	flag.Parse()
	os.Exit(run(*seconds, *block, *slack, *prio, *out))
}

func run(seconds, block, slack, prio int, out string) int {
	const rate = 48000
	g := audio.Graph{
		Rate: rate, BlockSize: block,
		Nodes: []audio.Node{
			{Name: "src", Kind: "testsignal"},
			{Name: "dly", Kind: "delay", Params: audio.Params{"samples": 4800}},
			{Name: "amp", Kind: "gain", Params: audio.Params{"gain": 0.5}},
		},
		Edges: []audio.Edge{
			{From: audio.Port{Node: "src", Port: 1}, To: audio.Port{Node: "dly"}},
			{From: audio.Port{Node: "dly"}, To: audio.Port{Node: "amp"}},
		},
	}
	// The sink: the frame counter, the processed sine, and the source's own
	// one-second delay line (a spare that lost it would show a gap).
	sink := []audio.Port{{Node: "src", Port: 0}, {Node: "amp"}, {Node: "src", Port: 2}}

	// One fault a second, each node and each kind in turn; the kills land at
	// each point of the commit protocol in turn.
	perSecond := rate / block
	nodes := []string{"src", "dly", "amp"}
	kinds := []string{"kill", "hang", "overrun"}
	points := []string{"before-compute", "after-output", "after-commit", "after-publish"}
	var faults []audio.Fault
	for k := range seconds - 1 {
		f := audio.Fault{
			Node:  nodes[k%3],
			Cycle: uint64((k + 1) * perSecond),
			Kind:  kinds[(k+k/3)%3],
		}
		if f.Kind == "kill" {
			f.Point = points[k%4]
		}
		faults = append(faults, f)
	}
	if slack == 0 {
		slack = audio.NoSlack
	}
	blocks := uint64(seconds * perSecond)

	ctx := context.Background()
	e, err := audio.Start(ctx, audio.Config{
		Graph: g, Sink: sink, WAV: out, RealTime: true, Slack: slack, Faults: faults, Priority: prio,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// What the engine found out about this machine, and its warnings:
	// whether it can keep every block on time.
	fmt.Print(e.Preflight())
	fmt.Printf("playing %d s of test signal → delay → gain at %d frames (%v a block), %d faults\n",
		seconds, block, time.Duration(int64(block)*int64(time.Second)/rate), len(faults))
	// Every failover is a ChildProcess carrying procbridge's Promoted in
	// the engine's supervision tree, and counts against its intensity (by
	// default ten a second per node process, far above one a second).
	promoted := 0
	sub := e.Tree().Subscribe(ctx, 64)
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		for ev := range sub {
			if cp, ok := ev.(supervision.ChildProcess); ok {
				if _, ok := cp.Event.(procbridge.Promoted); ok {
					promoted++
				}
			}
		}
	}()
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for ev := range e.Events() {
			switch ev := ev.(type) {
			case audio.Late:
				if ev.Missing {
					fmt.Printf("  %v\n", ev)
				}
			default:
				fmt.Printf("  %v\n", ev) // a failover, a node down or restarted
			}
		}
	}()
	rep, runErr := e.Run(ctx, blocks)
	if err := e.Close(ctx); err != nil && runErr == nil {
		runErr = err
	}
	<-printed
	<-counted // the tree has ended: Close stopped it
	fmt.Println()
	fmt.Print(rep)
	fmt.Printf("supervision tree %q: %d failovers reported as promotions\n", "audio", promoted)
	if runErr != nil {
		fmt.Fprintln(os.Stderr, runErr)
		return 1
	}

	// The verdict: the output against a fault-free offline render.
	want, err := audio.Render(&g, sink, int(blocks))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	f, err := os.Open(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	_, channels, got, err := audio.ReadWAV(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cmp, err := audio.Compare(want, got, channels, audio.CompareOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Printf("\nglitch check against a fault-free offline render (%s):\n%v", out, cmp)
	if cmp.GlitchFree && rep.GlitchFree {
		fmt.Println("verdict: glitch-free")
		return 0
	}
	// Glitches the machine alone accounts for: every missing block a
	// machine stall's (the engine's driver was not run for the block's
	// slack), no cold restart, and every other block bit-identical.
	silent, wrong := compareBlocks(want, got, channels, block)
	if rep.Missing > 0 && rep.MissingStall == rep.Missing && len(rep.Restarts) == 0 && rep.SinkDropped == 0 &&
		wrong == 0 && uint64(silent) <= rep.Missing {
		fmt.Printf("verdict: glitches, all machine stalls: %d blocks missing, each while the machine did not run the engine; every other block bit-identical\n", rep.Missing)
		return 3
	}
	fmt.Println("verdict: GLITCH")
	return 1
}

// compareBlocks compares got with want block by block: silent counts the blocks
// that differ and are silence (a missing block), wrong those that differ
// otherwise.
func compareBlocks(want, got []float32, channels, block int) (silent, wrong int) {
	n := block * channels
	for at := 0; at < len(want); at += n {
		w := want[at:min(at+n, len(want))]
		var g []float32
		if at < len(got) {
			g = got[at:min(at+n, len(got))]
		}
		if slices.Equal(w, g) {
			continue
		}
		if len(g) == len(w) && !slices.ContainsFunc(g, func(x float32) bool { return x != 0 }) {
			silent++
		} else {
			wrong++
		}
	}
	return silent, wrong
}

//go:build jack

package jack

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/understudy/understudy/audio"
)

// percentiles reports the p50 and p99 of ns under the given prefix.
func percentiles(b *testing.B, prefix string, ns []int64) {
	if len(ns) == 0 {
		return
	}
	slices.Sort(ns)
	b.ReportMetric(float64(ns[(len(ns)-1)/2]), prefix+"p50-ns")
	b.ReportMetric(float64(ns[(len(ns)*99+99)/100-1]), prefix+"p99-ns")
}

// BenchmarkCallback: how long the process callback takes, at 128 frames,
// for an empty client (the floor: the server's call and two clock reads),
// for the engine with one block of slack (the callback starts the cycle
// and plays the block computed in the previous period), and with no
// slack (the callback starts the cycle and waits for the whole graph of
// three node processes: the engine's whole cost inside the callback,
// DSP included).
func BenchmarkCallback(b *testing.B) {
	const frames, blocks = 128, 750 // 2 s a run
	s := startServer(b, frames)
	b.Run("empty", func(b *testing.B) {
		c, err := openEmpty("empty", s.Name)
		if err != nil {
			b.Fatal(err)
		}
		defer c.close()
		c.costs()
		var all []int64
		for b.Loop() {
			p := playThrough(b, s, frames, 1, blocks, nil)
			_ = p
			all = append(all, c.costs()...)
		}
		percentiles(b, "", all)
	})
	for _, slack := range []int{1, audio.NoSlack} {
		b.Run(fmt.Sprintf("engine/slack=%d", max(slack, 0)), func(b *testing.B) {
			var all []int64
			var cycles []int64
			for b.Loop() {
				p := playThrough(b, s, frames, slack, blocks, nil)
				all = append(all, p.costs...)
				cycles = append(cycles, int64(p.rep.CycleP50))
				b.ReportMetric(float64(p.rep.Missing), "missing")
				b.ReportMetric(float64(p.rep.Xruns), "xruns")
			}
			percentiles(b, "", all)
			percentiles(b, "cycle-", cycles)
		})
	}
}

// BenchmarkFaults: the demo graph through JACK, one block of slack, kills
// and hangs spread over the run (UNDERSTUDY_JACK_FAULTS of them, 20 by
// default, one every 50 blocks), at 128, 64 and 32 frames: what was
// lost, and whether the capture is bit-identical to the offline render.
func BenchmarkFaults(b *testing.B) {
	n := 20
	if v, err := strconv.Atoi(os.Getenv("UNDERSTUDY_JACK_FAULTS")); err == nil && v > 0 {
		n = v
	}
	for _, frames := range []int{128, 64, 32} {
		b.Run(fmt.Sprintf("frames=%d", frames), func(b *testing.B) {
			s := startServer(b, frames)
			gap := 50 * 128 / frames // the same time between faults at every period
			blocks := uint64((n + 1) * gap)
			for b.Loop() {
				// The floor: the server's own xruns over as long, with
				// an empty client and no engine.
				empty, err := openEmpty("floor", s.Name)
				if err != nil {
					b.Fatal(err)
				}
				<-time.After(time.Duration(blocks) * time.Duration(frames) * time.Second / 48000)
				floor := empty.xruns()
				b.ReportMetric(float64(floor), "floor-xruns")
				empty.close()
				p := playThrough(b, s, frames, 1, blocks, faultsEvery(n, gap))
				unfaulted := 0
				for _, f := range p.rep.Failovers {
					if f.Fault == "" {
						unfaulted++
					}
				}
				g, sink := testGraph(frames)
				ref, err := audio.Render(&g, sink, int(blocks))
				if err != nil {
					b.Fatal(err)
				}
				identical := 0.0
				if heard, ok := aligned(p.capture, len(sink), frames, int(blocks)); ok && slices.Equal(ref, heard) {
					identical = 1
				}
				b.ReportMetric(float64(p.rep.FaultsStruck), "faults")
				b.ReportMetric(float64(unfaulted), "unfaulted-failovers")
				b.ReportMetric(float64(p.rep.Missing), "missing")
				b.ReportMetric(float64(p.silent), "silent")
				b.ReportMetric(float64(p.rep.Xruns), "xruns")
				// The xruns the engine's client may have caused: its
				// callback returned after the next period began. The
				// server's count beside the floor's is the other look.
				b.ReportMetric(float64(p.overruns), "caused-xruns")
				b.ReportMetric(float64(max(int64(p.rep.Xruns)-int64(floor), 0)), "xruns-over-floor")
				b.ReportMetric(identical, "bit-identical")
				b.Logf("%v", p.rep)
				if err := writeTrace(fmt.Sprintf("faults-%d.txt", frames), p, frames, 1, blocks, floor); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// aligned returns the blocks of the capture from block 1 on (found by the
// frame counter on channel 0), or false.
func aligned(capture []float32, ch, frames, blocks int) ([]float32, bool) {
	at := slices.IndexFunc(capture, func(x float32) bool { return x != 0 })
	if at < 0 || at%ch != 0 {
		return nil, false
	}
	first := at/ch - int(capture[at])
	if first < 0 || len(capture) < (first+blocks*frames)*ch {
		return nil, false
	}
	return capture[first*ch : (first+blocks*frames)*ch], true
}

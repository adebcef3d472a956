//go:build linux

package audio

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// chain is the test graph: test source → delay → gain, with the sink
// recording the source's counter, the gain's output and the source's
// one-second-delayed sine.
// The shared test helpers, by their short names here.
var (
	ctxT    = testproc.Context
	openFds = testproc.OpenFds
)

const testDeadline = testproc.Deadline

func chain(rate, block int) (Graph, []Port) {
	return Graph{
			Rate: rate, BlockSize: block,
			Nodes: []Node{
				{Name: "src", Kind: "testsignal"},
				{Name: "dly", Kind: "delay", Params: Params{"samples": 300}},
				{Name: "amp", Kind: "gain", Params: Params{"gain": 0.5}},
			},
			Edges: []Edge{
				{From: Port{"src", 1}, To: Port{"dly", 0}},
				{From: Port{"dly", 0}, To: Port{"amp", 0}},
			},
		}, []Port{
			{"src", 0}, {"amp", 0}, {"src", 2},
		}
}

// render runs cfg for blocks offline and returns the report and the
// samples the sink wrote.
func render(t *testing.T, cfg Config, blocks uint64) (Report, []float32) {
	t.Helper()
	cfg.WAV = filepath.Join(t.TempDir(), "out.wav")
	if os.Getenv("AUDIO_TEST_STDERR") != "" {
		cfg.Stderr = procbridge.Output{}
	}
	e, err := Start(ctxT(t), cfg)
	require.NoError(t, err)
	rep, err := e.Run(ctxT(t), blocks)
	require.NoError(t, e.Close(ctxT(t)))
	require.NoError(t, err)
	f, err := os.Open(cfg.WAV)
	require.NoError(t, err)
	defer f.Close()
	rate, ch, samples, err := ReadWAV(f)
	require.NoError(t, err)
	assert.Equal(t, cfg.Graph.Rate, rate)
	assert.Equal(t, len(cfg.Sink), ch)
	return rep, samples
}

func TestEngineFaultFreeMatchesRender(t *testing.T) {
	g, sink := chain(48000, 128)
	const blocks = 400
	want, err := Render(&g, sink, blocks)
	require.NoError(t, err)
	rep, got := render(t, Config{Graph: g, Sink: sink, Watchdog: 2 * time.Second}, blocks)
	t.Log(rep)
	cmp, err := Compare(want, got, len(sink), CompareOptions{})
	require.NoError(t, err)
	assert.True(t, cmp.GlitchFree, "%v", cmp)
	assert.Equal(t, uint64(blocks), rep.Cycles)
	assert.Empty(t, rep.Failovers)
}

// TestEngineFaults injects each fault kind into each node at each point of
// its cycle, and checks the render is bit-identical to the fault-free one.
func TestEngineFaults(t *testing.T) {
	g, sink := chain(48000, 128)
	const blocks = 200
	want, err := Render(&g, sink, blocks)
	require.NoError(t, err)
	for _, kind := range []string{"kill", "hang", "overrun", "segv"} {
		for _, node := range []string{"src", "dly", "amp"} {
			for i, p := range faultPoints {
				if kind != "kill" && p != "before-compute" && p != "after-commit" {
					continue // the protocol points are SIGKILL's; the others strike mid-block
				}
				t.Run(kind+"/"+node+"/"+p, func(t *testing.T) {
					fault := Fault{Node: node, Cycle: 77, Kind: kind, Point: p}
					cfg := Config{Graph: g, Sink: sink, Faults: []Fault{fault}, Watchdog: 20 * time.Millisecond}
					if kind == "overrun" {
						fault.Spin = 200 * time.Millisecond
						cfg.Faults[0] = fault
					}
					rep, got := render(t, cfg, blocks)
					cmp, err := Compare(want, got, len(sink), CompareOptions{})
					require.NoError(t, err)
					assert.True(t, cmp.GlitchFree, "%v", cmp)
					f := struckFailover(t, rep)
					assert.Equal(t, node, f.Node)
					assert.Equal(t, kind, f.Fault)
					assert.Equal(t, 1, rep.FaultsStruck)
					assert.Equal(t, kind == "hang" || kind == "overrun", f.Watchdog, "failed over by the watchdog")
					wantCycle, wantRecovery := uint64(77), recoveredCompute
					if i >= int(afterCommit) {
						wantRecovery = recoveredReuse
					}
					late := i == int(afterPublish) && f.Cycle == 78
					if late {
						// Block 77 was published whole: a death the driver
						// notices only once block 78 has begun (a loaded
						// machine) fails over there. The spare computes 78,
						// or, as seen under heavy load, finds the dying
						// primary's commit of 78 and reuses it: either way
						// the render stays bit-identical, checked above.
						wantCycle = 78
					}
					assert.Equal(t, wantCycle, f.Cycle, "the spare took over the block the fault struck")
					if late {
						assert.Contains(t, []string{recoveredCompute, recoveredReuse}, f.Recovery)
					} else {
						assert.Equal(t, wantRecovery, f.Recovery)
					}
					t.Logf("%v", f)
				})
			}
		}
	}
}

// struckFailover returns the one failover of rep that the injected fault
// caused. On a loaded machine a 20 ms watchdog may also fail a node over
// at a block nothing struck (the output stays bit-identical, which the
// tests check apart): any other failover must be such a watchdog verdict.
func struckFailover(t *testing.T, rep Report) Failover {
	t.Helper()
	var struck []Failover
	for _, fo := range rep.Failovers {
		if fo.Fault != "" {
			struck = append(struck, fo)
			continue
		}
		assert.True(t, fo.Watchdog, "a failover with no fault is a watchdog verdict: %v", fo)
	}
	require.Len(t, struck, 1, "%v", rep)
	return struck[0]
}

// TestEngineKillsFromOutside SIGKILLs the primaries from another goroutine
// at arbitrary instants while a long render runs, as soon as each node has
// a spare again, and checks the render is bit-identical.
func TestEngineKillsFromOutside(t *testing.T) {
	g, sink := chain(48000, 64)
	blocks := uint64(20000)
	if testing.Short() {
		blocks = 5000
	}
	want, err := Render(&g, sink, int(blocks))
	require.NoError(t, err)
	// Kills as fast as spares come up, tens a second: far more than the
	// supervisor's default intensity allows (defaultRestartRate a second
	// per node process), which would rightly give up.
	cfg := Config{Graph: g, Sink: sink, WAV: filepath.Join(t.TempDir(), "out.wav"), Watchdog: time.Second,
		Intensity: supervision.Intensity{MaxRestarts: 1 << 20}}
	e, err := Start(ctxT(t), cfg)
	require.NoError(t, err)
	defer e.Close(ctxT(t))

	done := runInBackground(t, e, blocks)
	names := []string{"src", "dly", "amp"}
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	var res runResult
loop:
	for k := 0; ; k++ {
		i := k % len(names)
		// Wait for node i to have a spare, at a random instant after.
		for !e.spareReady(i) {
			select {
			case res = <-done:
				break loop
			case <-time.After(time.Millisecond):
			}
		}
		select {
		case res = <-done:
			break loop
		case <-time.After(time.Duration(rng.IntN(3000)) * time.Microsecond):
		}
		pid := pidsOf(e)[names[i]]
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			kills++
		}
		// The kill is seen when the primary changes.
		for pidsOf(e)[names[i]] == pid {
			select {
			case res = <-done:
				break loop
			case <-time.After(100 * time.Microsecond):
			}
		}
	}
	require.NoError(t, res.err)
	require.NoError(t, e.Close(ctxT(t)))
	t.Logf("%d kills; %v", kills, res.rep)
	assert.GreaterOrEqual(t, kills, 3, "the render outlasted a few kills")
	// Every kill failed over, but for at most one a node after the last
	// block (then there is no block for its new primary to publish).
	promotions := 0
	for _, n := range res.rep.Nodes {
		promotions += n.Failovers
	}
	assert.GreaterOrEqual(t, promotions, kills-len(names), "every kill before the end failed over")
	assert.LessOrEqual(t, promotions, kills, "no failover without a kill")
	got := readWAV(t, cfg.WAV, len(sink))
	cmp, err := Compare(want, got, len(sink), CompareOptions{})
	require.NoError(t, err)
	assert.True(t, cmp.GlitchFree, "%v", cmp)
}

func readWAV(t *testing.T, path string, channels int) []float32 {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	_, ch, samples, err := ReadWAV(f)
	require.NoError(t, err)
	require.Equal(t, channels, ch)
	return samples
}

// TestEngineRealTime runs half a second in real time with a SIGKILL and a
// hang, and checks the accounting is truthful: the output equals the
// reference but for the blocks the report calls missing, which are silent.
// (Whether there are any depends on the machine's load; on an idle machine
// there are none.)
func TestEngineRealTime(t *testing.T) {
	g, sink := chain(48000, 128)
	const blocks = 188
	want, err := Render(&g, sink, blocks)
	require.NoError(t, err)
	cfg := Config{Graph: g, Sink: sink, RealTime: true, Faults: []Fault{
		{Node: "dly", Cycle: 50, Kind: "kill", Point: "after-output"},
		{Node: "amp", Cycle: 120, Kind: "hang"},
	}}
	rep, got := render(t, cfg, blocks)
	t.Log(rep)
	require.Equal(t, len(want), len(got))
	// A fault strikes only when a spare is ready to take over: in real
	// time it is postponed a block at a time while none is. On a loaded
	// machine (the watchdog failing nodes over while their spares are
	// still starting) one may not have struck by the end, and then the
	// report says it was postponed; on a machine that has a spare ready
	// for each, both strike.
	if rep.FaultsStruck < 2 {
		require.Positive(t, rep.FaultsPostponed, "a fault that did not strike was postponed")
		t.Logf("%d of 2 faults struck, %d postponed: no spare was ready", rep.FaultsStruck, rep.FaultsPostponed)
	}
	// Each fault that struck failed over. On a loaded machine (the other
	// packages' tests run beside this one) the watchdog may also fence a
	// node that did not get a CPU in time: that is what it is for, and
	// such a failover must be the watchdog's, with no fault behind it.
	var faulted []Failover
	for _, f := range rep.Failovers {
		if f.Fault == "" {
			assert.True(t, f.Watchdog, "a failover with no fault behind it: %v", f)
			continue
		}
		faulted = append(faulted, f)
	}
	require.Len(t, faulted, rep.FaultsStruck, "%v", rep.Failovers)
	planned := []struct{ node, fault string }{{"dly", "kill"}, {"amp", "hang"}}
	for _, f := range faulted {
		for len(planned) > 0 && planned[0].node != f.Node {
			planned = planned[1:] // one that did not strike
		}
		require.NotEmpty(t, planned, "a failover for a fault not planned, or out of order: %v", f)
		assert.Equal(t, planned[0].fault, f.Fault, "%v", f)
		planned = planned[1:]
	}
	if n := len(rep.Failovers) - len(faulted); n > 0 {
		t.Logf("%d failovers with no fault behind them: the machine was loaded", n)
	}
	ch, bs := len(sink), g.BlockSize
	missing := 0
	for b := range blocks {
		w, x := want[b*bs*ch:(b+1)*bs*ch], got[b*bs*ch:(b+1)*bs*ch]
		if slices.Equal(w, x) {
			continue
		}
		missing++
		assert.Equal(t, make([]float32, len(x)), x, "block %d differs and is not silent", b+1)
	}
	assert.Equal(t, int(rep.Missing), missing, "the blocks the report calls missing are the blocks that differ")
	if rep.Missing == 0 {
		cmp, err := Compare(want, got, ch, CompareOptions{})
		require.NoError(t, err)
		assert.True(t, cmp.GlitchFree, "%v", cmp)
	}
}

// TestEngineRunCancelled: a Run whose context ends stops with its cause;
// one that ended mid-cycle leaves the engine to be closed, and says so.
func TestEngineRunCancelled(t *testing.T) {
	g, sink := chain(48000, 128)
	// The amp hangs with no watchdog to speak of: the cycle cannot end.
	e, err := Start(ctxT(t), Config{Graph: g, Sink: sink, Watchdog: time.Hour,
		Faults: []Fault{{Node: "amp", Cycle: 3, Kind: "hang"}}})
	require.NoError(t, err)
	defer e.Close(ctxT(t))
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("enough")
	go func() {
		for ev := range e.Events() {
			_ = ev
		}
	}()
	time.AfterFunc(200*time.Millisecond, func() { cancel(stop) })
	rep, err := e.Run(ctx, 10)
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, uint64(2), rep.Cycles)
	_, err = e.Run(ctxT(t), 1)
	assert.ErrorContains(t, err, "mid-cycle")
	require.NoError(t, e.Close(ctxT(t)))
	_, err = e.Run(ctxT(t), 1)
	assert.ErrorIs(t, err, ErrClosed)
}

//go:build jack

package jack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/audio"
	"github.com/understudy/understudy/internal/jackserver"
)

// testGraph is the README's demo graph: the test signal, a delay and a
// gain, with three sink ports (the frame counter, the processed sine, and
// the source's own one-second delay line).
func testGraph(frames int) (audio.Graph, []audio.Port) {
	g := audio.Graph{
		Rate: 48000, BlockSize: frames,
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
	return g, []audio.Port{{Node: "src", Port: 0}, {Node: "amp"}, {Node: "src", Port: 2}}
}

// faultsEvery plans n faults, one every gap blocks from block gap,
// kills and hangs in turn, each node in turn.
func faultsEvery(n, gap int) []audio.Fault {
	nodes := []string{"src", "dly", "amp"}
	points := []string{"before-compute", "after-output", "after-commit", "after-publish"}
	var fs []audio.Fault
	for k := range n {
		f := audio.Fault{Node: nodes[k%3], Cycle: uint64((k + 1) * gap), Kind: "kill", Point: points[(k/2)%4]}
		if k%2 == 1 {
			f.Kind, f.Point = "hang", ""
		}
		fs = append(fs, f)
	}
	return fs
}

// played is what a run through JACK gave: the engine's report, the
// capture and the client.
type played struct {
	rep     audio.Report
	capture []float32
	silent  uint64 // blocks the callback played as silence
	skipped uint64 // periods the server ran without the client
	costs   []int64
	// With UNDERSTUDY_JACK_TRACE set: the client's trace, and the
	// engine's events.
	trace    *runTrace
	events   []audio.Event
	margin   int64  // the client's
	overruns uint64 // callbacks that returned past their period
}

// playThrough plays blocks of the test graph through a server of the given
// period with the faults, captured by a second client, and returns what
// was heard.
func playThrough(t testing.TB, s *server, frames, slack int, blocks uint64, faults []audio.Fault) played {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline+time.Duration(blocks)*time.Second*time.Duration(frames)/48000)
	defer cancel()
	g, sink := testGraph(frames)
	cfg := Config{Name: "player", Server: s.Name, NoConnect: true, Engine: audio.Config{
		Graph: g, Sink: sink, RealTime: true, Slack: slack, Faults: faults,
	}}
	ck, err := open(&cfg)
	require.NoError(t, err)
	c := ck.(*client)
	// UNDERSTUDY_JACK_MARGIN sets the client's margin, for measurements.
	if m, err := time.ParseDuration(os.Getenv("UNDERSTUDY_JACK_MARGIN")); err == nil && m > 0 {
		c.margin = int64(m)
	}
	tracing := os.Getenv("UNDERSTUDY_JACK_TRACE") != ""
	if tracing {
		c.trace()
	}
	cfg.Engine.Clock = c
	e, err := audio.Start(ctx, cfg.Engine)
	if err != nil {
		c.Close()
		require.NoError(t, err)
	}
	// The engine's events, until its Close ends them.
	var events []audio.Event
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for ev := range e.Events() {
			if tracing {
				events = append(events, ev)
			}
		}
	}()
	defer func() {
		e.Close(context.Background())
		<-evDone
	}()

	// A second of room past the blocks, for the latency and the start.
	capFrames := (int(blocks) + 48000/frames) * frames
	cap, err := openCapture("ears", s.Name, len(sink), capFrames)
	require.NoError(t, err)
	// The capture goes first, then the engine, as the client that
	// listens is closed before the one it listens to.
	var capClosed bool
	defer func() {
		if !capClosed {
			cap.close()
		}
	}()
	for i, p := range sink {
		require.NoError(t, cap.connect(fmt.Sprintf("%s:%s_%d", c.name(), p.Node, p.Port), i))
	}
	cap.watch(c)
	cap.arm()
	c.costs() // from here on
	rep, err := e.Run(ctx, blocks)
	require.NoError(t, err)
	costs := c.costs()
	cap.disarm()
	p := played{rep: rep, capture: cap.samples(), silent: c.silent(), skipped: c.skipped(), costs: costs, trace: c.traced(), margin: c.Margin(), overruns: c.overruns()}
	cap.close()
	capClosed = true
	e.Close(context.Background())
	<-evDone
	p.events = events
	return p
}

// check compares the capture with the offline render, block by block:
// each block is the render's or silence, at a constant latency (block k
// is heard exactly k-1 blocks after block 1, whatever was lost between),
// and with no silence at all, the capture is bit-identical (Compare: the
// counter continuous, the latency 0 against the render). Silence is what
// the callback played for a block not there in time (the engine reports
// it missing), or a period the server ran without the player or without
// the capture (a server xrun): on a loaded machine (the other packages'
// tests beside this one, a hypervisor's steal) the report says which.
func check(t testing.TB, p played, frames int, blocks uint64) {
	t.Helper()
	g, sink := testGraph(frames)
	ref, err := audio.Render(&g, sink, int(blocks))
	require.NoError(t, err)
	ch := len(sink)
	// The counter is the frame's number from block 1's first frame: the
	// first one heard says where block 1 began.
	at := slices.IndexFunc(p.capture, func(x float32) bool { return x != 0 })
	require.GreaterOrEqual(t, at, 0, "the capture is all silence")
	require.Equal(t, 0, at%ch, "the first sound is on the counter channel")
	first := at/ch - int(p.capture[at])
	require.GreaterOrEqual(t, first, 0)
	require.Zero(t, first%frames, "block 1 begins on a period's boundary")
	require.GreaterOrEqual(t, len(p.capture), (first+int(blocks)*frames)*ch, "the capture holds every block")
	got := p.capture[first*ch : (first+int(blocks)*frames)*ch]
	n := frames * ch
	silent := 0
	for b := range int(blocks) {
		w, x := ref[b*n:(b+1)*n], got[b*n:(b+1)*n]
		if slices.Equal(w, x) {
			continue
		}
		silent++
		assert.Equal(t, make([]float32, n), x, "block %d differs and is not silent", b+1)
	}
	assert.GreaterOrEqual(t, silent, int(p.silent), "the blocks the callback played as silence were heard as silence")
	if p.rep.Xruns == 0 && p.skipped == 0 {
		assert.Equal(t, int(p.silent), silent, "with no xrun, the blocks heard as silence are those the callback played as silence")
	}
	if silent == 0 {
		cmp, err := audio.Compare(ref, got, ch, audio.CompareOptions{})
		require.NoError(t, err)
		assert.True(t, cmp.GlitchFree, "through JACK against the offline render:\n%v", cmp)
	} else {
		t.Logf("%d blocks silent: the callback played %d as silence (the engine's missing %d, %d of them a machine stall); "+
			"server xruns %d, periods run without the player %d", silent, p.silent, p.rep.Missing, p.rep.MissingStall, p.rep.Xruns, p.skipped)
	}
	t.Logf("block 1 heard %d frames into the capture", first)
}

// TestPlaysThroughFaults: the demo graph through a real JACK server, with
// kills and hangs, heard by a second client bit-identical to the offline
// render.
func TestPlaysThroughFaults(t *testing.T) {
	const frames, blocks = 128, 2250 // 6 s
	s := startServer(t, frames)
	faults := faultsEvery(8, 250) // each node every 2 s: a replacement spare has time to come up
	p := playThrough(t, s, frames, 1, blocks, faults)
	t.Log(p.rep)
	// In real time a fault waits for a spare (FaultsPostponed), and one
	// still waiting when the run ends never strikes: under the race
	// detector, on a loaded machine, a replacement can take seconds.
	assert.LessOrEqual(t, p.rep.FaultsStruck, len(faults))
	require.Positive(t, p.rep.FaultsStruck, "no fault struck")
	if p.rep.FaultsStruck < len(faults) {
		t.Logf("%d of %d faults struck (%d postponed: no spare ready, or one just armed)", p.rep.FaultsStruck, len(faults), p.rep.FaultsPostponed)
	}
	// Every failover has a fault behind it or is the watchdog's (a node
	// that did not get a CPU in time on a loaded machine).
	faulted := 0
	for _, f := range p.rep.Failovers {
		if f.Fault == "" {
			assert.True(t, f.Watchdog, "a failover with no fault behind it: %v", f)
			continue
		}
		faulted++
	}
	assert.Equal(t, p.rep.FaultsStruck, faulted)
	check(t, p, frames, blocks)
}

// TestNameTaken: a second client of the same name fails, naming the
// field.
func TestNameTaken(t *testing.T) {
	if jackserver.PipeWire() {
		t.Skip("PipeWire's libjack (0.3.65) opens a second client of a name already taken, JackUseExactName or not")
	}
	s := startServer(t, 128)
	c, err := open(&Config{Name: "taken", Server: s.Name})
	require.NoError(t, err)
	defer c.Close()
	g, sink := testGraph(128)
	_, err = Start(context.Background(), Config{Name: "taken", Server: s.Name, Engine: audio.Config{Graph: g, Sink: sink}})
	require.Error(t, err)
	assert.ErrorIs(t, err, audio.ErrInvalidConfig)
	assert.Contains(t, err.Error(), `Name = "taken"`)
	assert.Contains(t, err.Error(), "already on the server")
}

// TestNoServer: a server that is not there fails Start at once, naming
// it.
func TestNoServer(t *testing.T) {
	g, sink := testGraph(128)
	_, err := Start(context.Background(), Config{Server: "understudy-nobody", Engine: audio.Config{Graph: g, Sink: sink}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Server = "understudy-nobody"`)
}

// TestShapeMismatch: a graph whose rate or block size is not the
// server's fails Start before any node process starts.
func TestShapeMismatch(t *testing.T) {
	s := startServer(t, 128)
	for _, tc := range []struct {
		rate, frames int
		field        string
	}{
		{44100, 128, "Engine.Graph.Rate = 44100"},
		{48000, 256, "Engine.Graph.BlockSize = 256"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			g, sink := testGraph(tc.frames)
			g.Rate = tc.rate
			_, err := Start(context.Background(), Config{Server: s.Name, NoConnect: true, Engine: audio.Config{Graph: g, Sink: sink}})
			require.Error(t, err)
			assert.ErrorIs(t, err, audio.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
}

// runUntil starts the demo graph on s and runs it in the background; the
// returned channel gets Run's error.
func runUntil(t *testing.T, s *server) (*audio.Engine, <-chan error) {
	g, sink := testGraph(128)
	e, err := Start(context.Background(), Config{Server: s.Name, NoConnect: true, Engine: audio.Config{Graph: g, Sink: sink}})
	require.NoError(t, err)
	// Close waits for a Run in progress: a Run that a failed test left
	// going is cancelled first, so the cleanup ends instead of hanging.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		e.Close(context.Background())
	})
	done := make(chan error, 1)
	go func() {
		_, err := e.Run(ctx, 1<<40)
		done <- err
	}()
	return e, done
}

// TestServerGone: the server going away ends Run with an error saying
// so, not a hang; under PipeWire too, whose libjack (0.3.65) calls no
// shutdown callback when its daemon stops, and the client's watch notices.
func TestServerGone(t *testing.T) {
	s := startServer(t, 128)
	_, done := runUntil(t, s)
	// SIGTERM: jackd shuts its clients down and leaves JACK's registry
	// clean (a SIGKILL leaves its entry, and enough of them refuse new
	// servers).
	require.NoError(t, s.Cmd.Process.Signal(syscall.SIGTERM))
	sent := time.Now()
	select {
	case err := <-done:
		t.Logf("Run ended %v after the server was told to stop", time.Since(sent).Round(time.Millisecond))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "shut the client down")
	case <-time.After(deadline):
		t.Fatal("Run did not end when the server went away")
	}
}

// TestServerPaused: a server stopped (SIGSTOP) for longer than the
// client's watch waits for a process callback is slow, not gone: Run goes
// on through the pause and after it, and still ends when the server does.
func TestServerPaused(t *testing.T) {
	s := startServer(t, 128)
	_, done := runUntil(t, s)
	require.NoError(t, s.Cmd.Process.Signal(syscall.SIGSTOP))
	// Three bounds of the watch without a callback: it probes the server,
	// which, stopped, neither takes nor refuses the probe.
	pause := 3 * watchBound(int64(128*time.Second/48000))
	select {
	case err := <-done:
		s.Cmd.Process.Signal(syscall.SIGCONT)
		t.Fatalf("Run ended while the server was paused: %v", err)
	case <-time.After(pause):
	}
	require.NoError(t, s.Cmd.Process.Signal(syscall.SIGCONT))
	select {
	case err := <-done:
		t.Fatalf("Run ended after the server was paused: %v", err)
	case <-time.After(pause):
	}
	require.NoError(t, s.Cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "shut the client down")
	case <-time.After(deadline):
		t.Fatal("Run did not end when the server went away")
	}
}

// TestPeriodChange: the server's period changing under the engine ends
// Run with an error naming both periods.
func TestPeriodChange(t *testing.T) {
	if jackserver.PipeWire() {
		// jack_bufsize succeeds, the callbacks go on at the old period,
		// and no buffer-size callback comes: in 3 of 6 runs here.
		t.Skip("under PipeWire (0.3.65) a period change through jack_bufsize is now and then never told to the client: open")
	}
	s := startServer(t, 128)
	_, done := runUntil(t, s)
	bufsize, err := exec.LookPath("jack_bufsize")
	if err != nil {
		t.Skip("jack_bufsize is not installed")
	}
	cmd := exec.Command(bufsize, "256")
	// PipeWire's libjack finds a named server by PIPEWIRE_REMOTE.
	cmd.Env = append(os.Environ(), "JACK_DEFAULT_SERVER="+s.Name, "PIPEWIRE_REMOTE="+s.Name)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "period changed from 128 to 256 frames")
	case <-time.After(deadline):
		t.Fatal("Run did not end when the server's period changed")
	}
}

// TestJackIn: a jack_in node brings a JACK input into the graph: a
// second client's frame clock, through jack_in and a gain of 0.5, is heard
// by a third as half the clock, every frame, at a constant latency,
// through a kill of the jack_in node.
func TestJackIn(t *testing.T) {
	const blocks = 375 // 1 s
	faults := []audio.Fault{{Node: "mic", Cycle: 150, Kind: "kill", Point: "after-output"}}
	r := playInput(t, blocks, faults, nil)
	// A fault waits for a spare in real time: on a loaded machine it may
	// not have struck within the second.
	t.Logf("faults struck %d of 1", r.rep.FaultsStruck)
	r.requireConstantLatency(t, blocks)
}

// inputRun is what playInput heard, and how.
type inputRun struct {
	rep                     audio.Report
	got                     []float32
	skipped, repeats, drops uint64 // the player's periods skipped, run twice, inputs not taken
	stale                   uint64 // the periods the ears did not record: not the player's block
}

// playInput plays the jack_in graph: a source client's frame clock into
// a jack_in node and a gain of 0.5, heard by a capture client that records
// only what the player put in its ports for each period. during, if not
// nil, runs beside the Run, which it must not outlast.
func playInput(t *testing.T, blocks int, faults []audio.Fault, during func(s *server) (wait func())) inputRun {
	t.Helper()
	const frames = 128
	s := startServer(t, frames)
	src, err := openSource("clock", s.Name)
	require.NoError(t, err)
	defer src.close()
	g := audio.Graph{Rate: 48000, BlockSize: frames,
		Nodes: []audio.Node{{Name: "mic", Kind: "jack_in"}, {Name: "amp", Kind: "gain", Params: audio.Params{"gain": 0.5}}},
		Edges: []audio.Edge{{From: audio.Port{Node: "mic"}, To: audio.Port{Node: "amp"}}},
	}
	cfg := Config{Name: "player", Server: s.Name, Inputs: []string{"clock:out"}, Connect: []string{}, Engine: audio.Config{
		Graph: g, Sink: []audio.Port{{Node: "amp"}}, RealTime: true, Faults: faults,
	}}
	ck, err := open(&cfg)
	require.NoError(t, err)
	c := ck.(*client)
	cfg.Engine.Clock = c
	e, err := audio.Start(context.Background(), cfg.Engine)
	if err != nil {
		c.Close()
		require.NoError(t, err)
	}
	defer e.Close(context.Background())
	cap, err := openCapture("ears", s.Name, 1, (blocks+375)*frames)
	require.NoError(t, err)
	defer cap.close()
	require.NoError(t, cap.connect("player:amp_0", 0))
	cap.watch(c)
	cap.arm()
	wait := func() {}
	if during != nil {
		wait = during(s)
	}
	rep, err := e.Run(context.Background(), uint64(blocks))
	wait()
	require.NoError(t, err)
	cap.disarm()
	t.Log(rep)
	r := inputRun{rep: rep, got: cap.samples(), skipped: c.skipped(), repeats: c.repeats(), drops: c.dropped(), stale: cap.stale()}
	require.NoError(t, e.Close(context.Background()))
	left, err := filepath.Glob(fmt.Sprintf("%s%d*", inPrefix, os.Getpid()<<16>>16))
	require.NoError(t, err)
	assert.Empty(t, left, "input rings left in /dev/shm")
	return r
}

// requireConstantLatency: every frame heard is half the clock's value at
// one latency, the first frame's: the input was read at the right block,
// every block. A frame not heard is silence in its place: a block missing
// (the engine's report says so), a period the server ran without the
// player, a period whose inputs the player did not take (read late, they
// may have been a period old), or a period the ears did not record
// (the server ran them before the player finished, after an xrun).
func (r inputRun) requireConstantLatency(t *testing.T, blocks int) {
	t.Helper()
	const frames = 128
	got := r.got
	at := slices.IndexFunc(got, func(x float32) bool { return x != 0 })
	require.GreaterOrEqual(t, at, 0, "the capture is all silence")
	origin := float64(got[at]) - 0.5*float64(at)
	wrong, silent := 0, 0
	for f := at; f < at+(blocks-2)*frames && f < len(got); f++ {
		switch {
		case got[f] == 0:
			silent++
		case float64(got[f])-0.5*float64(f) != origin:
			if wrong == 0 {
				t.Errorf("frame %d (block %d after the first heard): %g, want %g: the latency moved by %g frames",
					f, (f-at)/frames, got[f], origin+0.5*float64(f), 2*(origin+0.5*float64(f)-float64(got[f])))
			}
			wrong++
		}
	}
	assert.Zero(t, wrong, "frames heard that are not half the clock at the latency of the first")
	t.Logf("%d frames silent: missing blocks %d, server xruns %d; the player's periods skipped %d, run twice %d, "+
		"inputs not taken %d; periods the ears did not record %d", silent, r.rep.Missing, r.rep.Xruns, r.skipped, r.repeats, r.drops, r.stale)
}

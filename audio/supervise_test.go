//go:build linux

package audio

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// killAll SIGKILLs every process of node process h, its spares first (so
// that none is left to take over), then its primary, and returns the
// primary's pid. A process already gone (a spare the group is replacing)
// is no error.
func killAll(t *testing.T, e *Engine, h int) int {
	t.Helper()
	kill := func(pid int) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			require.NoError(t, err)
		}
	}
	r := e.hosts[h].Load()
	for _, s := range r.g.Spares() {
		kill(s.Pid())
	}
	pid := r.g.Primary().Pid()
	kill(pid)
	return pid
}

// awaitTakeUp waits, with the test's deadline, until the engine has taken
// up incarnation inc of node process h (the supervisor reports it ready
// first; the engine then asks for its group).
func awaitTakeUp(t *testing.T, e *Engine, h, inc int) {
	t.Helper()
	deadline := time.After(testDeadline / 2)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for e.hosts[h].Load().inc < inc {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("the engine did not take up incarnation %d of %s", inc, e.t.hostLabel(h))
		}
	}
}

// collect gathers the engine's events until Close closes the channel.
func collect(e *Engine) <-chan []Event {
	out := make(chan []Event, 1)
	go func() {
		var evs []Event
		for ev := range e.Events() {
			evs = append(evs, ev)
		}
		out <- evs
	}()
	return out
}

// awaitTree waits, with the test's deadline, for a tree event that ok
// accepts.
func awaitTree(t *testing.T, sub <-chan supervision.Event, ok func(supervision.Event) bool) supervision.Event {
	t.Helper()
	deadline := time.After(testDeadline / 2)
	for {
		select {
		case ev, open := <-sub:
			require.True(t, open, "the tree ended first")
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatal("no such tree event in time")
		}
	}
}

// TestEngineColdRestart SIGKILLs the primary and every spare of one node
// together, in real time: the supervisor restarts the node process cold,
// the run goes on to its end, and the report says what it cost: the
// restart, the blocks missed meanwhile (silent in the output, and only
// they), and an output that is no longer the fault-free one (the delay's
// state started again from zero).
func TestEngineColdRestart(t *testing.T) {
	g, sink := chain(48000, 128)
	const delayBlocks = 200 // long enough to outlast the blocks missed, even under load
	g.Nodes[1].Params["samples"] = delayBlocks * 128
	const blocks, killAt = 500, 100
	want, err := Render(&g, sink, blocks)
	require.NoError(t, err)
	cfg := Config{Graph: g, Sink: sink, RealTime: true, Slack: NoSlack, WAV: filepath.Join(t.TempDir(), "out.wav")}
	if os.Getenv("AUDIO_TEST_STDERR") != "" {
		cfg.Stderr = procbridge.Output{}
	}
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
	events := collect(e)

	done := runInBackground(t, e, blocks)
	select {
	case <-reached:
	case <-time.After(testDeadline / 2):
		t.Fatal("the run did not reach the block to kill at")
	}
	dly := e.hostIndex["dly"]
	old := e.hosts[dly].Load()
	killAll(t, e, dly)
	awaitTree(t, sub, func(ev supervision.Event) bool {
		r, ok := ev.(supervision.ChildRestarting)
		return ok && r.Child == "dly"
	})
	res := <-done
	require.NoError(t, res.err, "a cold restart does not end the run")
	rep := res.rep
	t.Log(rep)
	assert.Equal(t, uint64(blocks), rep.Cycles)
	assert.NotSame(t, old, e.hosts[dly].Load(), "the engine took up the new group")
	assert.NotEqual(t, old.seg, e.hosts[dly].Load().seg, "over a new segment")

	require.Len(t, rep.Restarts, 1, "%v", rep)
	rs := rep.Restarts[0]
	assert.Equal(t, "dly", rs.Node)
	assert.Equal(t, 2, rs.Incarnation)
	assert.Equal(t, syscall.SIGKILL, rs.Exit.Signal, "%v", rs.Exit)
	assert.Greater(t, rs.Cycle, uint64(killAt))
	assert.Positive(t, rs.Outage)
	for _, n := range rep.Nodes {
		want := 0
		if n.Name == "dly" {
			want = 1
		}
		assert.Equal(t, want, n.Restarts, n.Name)
	}
	assert.Positive(t, rep.Missing, "a cold start takes far longer than a %v period", rep.Period)
	assert.False(t, rep.GlitchFree)

	require.NoError(t, e.Close(ctxT(t)))
	evs := <-events
	var down, restarted int
	for _, ev := range evs {
		switch ev := ev.(type) {
		case NodeDown:
			down++
			assert.Equal(t, "dly", ev.Node)
			assert.False(t, ev.Final)
			assert.ErrorIs(t, ev.Err, ErrNodeDown)
		case Restarted:
			restarted++
			assert.Equal(t, rs, ev)
		}
	}
	assert.Equal(t, 1, down, "NodeDown events")
	assert.Equal(t, 1, restarted, "Restarted events")

	// Honest accounting: the blocks the report calls missing are silent;
	// the others are what the nodes computed, which after the restart is
	// not the fault-free output (the delay line starts silent again).
	got := readWAV(t, cfg.WAV, len(sink))
	require.Equal(t, len(want), len(got))
	ch, bs := len(sink), g.BlockSize
	silent, differ := 0, 0
	for b := range blocks {
		w, x := want[b*bs*ch:(b+1)*bs*ch], got[b*bs*ch:(b+1)*bs*ch]
		switch {
		case slices.Equal(w, x):
		case slices.Equal(x, make([]float32, len(x))):
			silent++
		default:
			differ++
			assert.GreaterOrEqual(t, uint64(b+1), rs.Cycle, "block %d differs before the restart", b+1)
		}
	}
	assert.Equal(t, int(rep.Missing), silent, "the blocks the report calls missing are the silent ones")
	if silent < delayBlocks {
		assert.Positive(t, differ, "the restarted delay line lost its state")
	} else {
		// The outage outlasted the delay: what the lost state would have
		// changed fell in the blocks missed.
		t.Logf("an outage of %d blocks (a loaded machine) hid the lost state", silent)
	}
}

// TestEngineGivesUp: past the supervisor's intensity (here one failover
// in the window) the supervisor gives up: it stops every node process, and
// Run fails with ErrNodeDown wrapping the escalation. Close still cleans
// up.
func TestEngineGivesUp(t *testing.T) {
	g, sink := chain(48000, 128)
	// A watchdog long beside what a loaded machine keeps a node from its
	// CPU: a failover of its own, on top of the two faults', would count
	// against the intensity and tip it over at the wrong node.
	cfg := Config{Graph: g, Sink: sink, Watchdog: 2 * time.Second, WAV: filepath.Join(t.TempDir(), "out.wav"),
		Intensity: supervision.Intensity{MaxRestarts: 1, Period: time.Hour},
		Faults: []Fault{
			{Node: "dly", Cycle: 20, Kind: "kill"},
			{Node: "amp", Cycle: 40, Kind: "hang"},
		}}
	const blocks = 1 << 30 // far more than it gets to
	e, err := Start(ctxT(t), cfg)
	require.NoError(t, err)
	defer e.Close(ctxT(t))
	events := collect(e)
	rep, err := e.Run(ctxT(t), blocks)
	require.Error(t, err)
	t.Log(err)
	assert.ErrorIs(t, err, ErrNodeDown)
	assert.ErrorIs(t, err, supervision.ErrIntensity)
	var esc *supervision.EscalationError
	require.ErrorAs(t, err, &esc)
	assert.Equal(t, "amp", esc.Child, "the second failover tipped it over")
	assert.ErrorIs(t, esc, supervision.ErrFailover)
	assert.Contains(t, err.Error(), `node "amp"`)
	assert.Less(t, rep.Cycles, uint64(blocks))
	// The second failover may end the Run before its block is accounted.
	assert.NotEmpty(t, rep.Failovers, "%v", rep)
	select {
	case <-e.Tree().Done():
	default:
		t.Error("the tree has not ended")
	}
	assert.Equal(t, esc, e.Tree().Wait(ctxT(t)))

	_, err = e.Run(ctxT(t), 1)
	assert.ErrorIs(t, err, ErrNodeDown, "the engine stays failed")
	require.NoError(t, e.Close(ctxT(t)))
	final := 0
	for _, ev := range <-events {
		if d, ok := ev.(NodeDown); ok && d.Final {
			final++
			assert.Equal(t, "amp", d.Node)
			assert.ErrorIs(t, d.Err, ErrNodeDown)
		}
	}
	assert.Equal(t, 1, final, "a final NodeDown")
	_, err = e.Run(ctxT(t), 1)
	assert.ErrorIs(t, err, ErrClosed)
}

// TestEngineTreeEvents: the node processes are children of the engine's
// tree, which a user watches as any other: a failover is the node's
// ChildProcess Promoted (and SpareReady when the replacement is parked), the
// tree's metrics count it, and Supervisor().Children shows each node process
// with its group.
func TestEngineTreeEvents(t *testing.T) {
	g, sink := chain(48000, 128)
	reg := prometheus.NewRegistry()
	cfg := Config{Graph: g, Sink: sink, Watchdog: 2 * time.Second,
		Name: "synth", Metrics: reg,
		Faults: []Fault{{Node: "amp", Cycle: 30, Kind: "kill"}}}
	e, err := Start(ctxT(t), cfg)
	require.NoError(t, err)
	defer e.Close(ctxT(t))
	tree := e.Tree()
	require.NotNil(t, tree)
	assert.Equal(t, "synth", tree.Supervisor().Path())
	children, err := tree.Supervisor().Children(ctxT(t))
	require.NoError(t, err)
	pids := pidsOf(e)
	require.Len(t, children, 3)
	for i, c := range children {
		assert.Equal(t, []string{"src", "dly", "amp"}[i], c.Name)
		require.NotNil(t, c.Group, c.Name)
		assert.Equal(t, pids[c.Name], c.Pid, c.Name)
		assert.Len(t, c.Group.Spares(), 1, c.Name)
	}

	sub := tree.Subscribe(context.Background(), 64)
	ampPid := pids["amp"]
	rep, err := e.Run(ctxT(t), 100)
	require.NoError(t, err)
	require.Len(t, rep.Failovers, 1, "%v", rep)
	ev := awaitTree(t, sub, func(ev supervision.Event) bool {
		p, ok := ev.(supervision.ChildProcess)
		_, promoted := p.Event.(procbridge.Promoted)
		return ok && promoted && p.Child == "amp"
	}).(supervision.ChildProcess)
	assert.Equal(t, "synth", ev.Supervisor)
	assert.Equal(t, ampPid, ev.Event.(procbridge.Promoted).From)
	assert.Nil(t, ev.Cause, "a failover, not a switch")
	assert.Equal(t, 1, ev.Restarts)
	awaitTree(t, sub, func(ev supervision.Event) bool {
		r, ok := ev.(supervision.ChildProcess)
		_, spare := r.Event.(procbridge.SpareReady)
		return ok && spare && r.Child == "amp"
	})

	mfs, err := reg.Gather()
	require.NoError(t, err)
	failovers := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "understudy_child_failovers_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "child" && l.GetValue() == "amp" {
					failovers += m.GetCounter().GetValue()
				}
			}
		}
	}
	assert.Equal(t, 1.0, failovers, "understudy_child_failovers_total{child=\"amp\"}")

	// The engine's own node metrics, live: every node's series, the
	// failover, and a compute time for each of the 100 blocks.
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if !strings.HasPrefix(mf.GetName(), "understudy_audio_node_") {
				continue
			}
			assert.Equal(t, "synth", labels["engine"], mf.GetName())
			switch mf.GetName() {
			case "understudy_audio_node_failovers_total":
				want := 0.0
				if labels["node"] == "amp" {
					want = 1
				}
				assert.Equal(t, want, m.GetCounter().GetValue(), labels["node"])
			case "understudy_audio_node_compute_seconds":
				assert.Equal(t, uint64(100), m.GetHistogram().GetSampleCount(), labels["node"])
				assert.Positive(t, m.GetHistogram().GetSampleSum(), labels["node"])
			case "understudy_audio_node_late_blocks_total", "understudy_audio_node_missing_blocks_total":
				assert.Zero(t, m.GetCounter().GetValue(), "offline, nothing is late: %s %v", mf.GetName(), labels)
			}
		}
	}
	n, err := testutil.GatherAndCount(reg, "understudy_audio_node_late_blocks_total", "understudy_audio_node_missing_blocks_total",
		"understudy_audio_node_failovers_total", "understudy_audio_node_compute_seconds")
	require.NoError(t, err)
	assert.Equal(t, 3*(1+3+1+1), n, "per node: late, missing by its 3 causes, failovers, compute")

	// A second engine on the registry needs a name of its own.
	_, err = Start(ctxT(t), Config{Graph: g, Sink: sink, Name: "synth", Metrics: reg})
	assert.ErrorContains(t, err, "its own Config.Name")
	require.NoError(t, e.Close(ctxT(t)))
	_, open := <-sub
	for open {
		_, open = <-sub
	}
}

// TestEngineColdRestartBetweenRuns: a node process lost while no Run is
// going is restarted all the same; the next Run takes up its new group.
func TestEngineColdRestartBetweenRuns(t *testing.T) {
	g, sink := chain(48000, 128)
	e, err := Start(ctxT(t), Config{Graph: g, Sink: sink, Watchdog: 2 * time.Second})
	require.NoError(t, err)
	defer e.Close(ctxT(t))
	sub := e.Tree().Subscribe(context.Background(), 256)
	_, err = e.Run(ctxT(t), 30)
	require.NoError(t, err)
	restartCold(t, e, sub, "src")
	rep, err := e.Run(ctxT(t), 30)
	require.NoError(t, err)
	assert.Equal(t, uint64(60), rep.Cycles)
	require.Len(t, rep.Restarts, 1, "%v", rep)
	assert.Equal(t, "src", rep.Restarts[0].Node)
	assert.Equal(t, uint64(31), rep.Restarts[0].Cycle)
	require.NoError(t, e.Close(ctxT(t)))
}

// restartCold kills every process of node's host (primary and spares), so
// that the engine's supervisor restarts it cold, and waits until the engine
// has taken up the new incarnation. sub is a subscription to e's tree made
// before the kill.
func restartCold(t *testing.T, e *Engine, sub <-chan supervision.Event, node string) {
	t.Helper()
	h := e.hostIndex[node]
	inc := e.hosts[h].Load().inc + 1
	killAll(t, e, h)
	awaitTree(t, sub, func(ev supervision.Event) bool {
		r, ok := ev.(supervision.ChildReady)
		return ok && r.Child == node && r.Incarnation == inc
	})
	awaitTakeUp(t, e, h, inc)
}

// runResult is what a Run returned.
type runResult struct {
	rep Report
	err error
}

// runInBackground runs e for cycles in a goroutine of its own; its result
// comes on the channel.
func runInBackground(t *testing.T, e *Engine, cycles uint64) <-chan runResult {
	done := make(chan runResult, 1)
	go func() {
		rep, err := e.Run(ctxT(t), cycles)
		done <- runResult{rep, err}
	}()
	return done
}

// pidsOf returns the pid of each node's primary process now, by node name:
// nodes that share a process have the same pid.
func pidsOf(e *Engine) map[string]int {
	m := map[string]int{}
	for h := range e.hosts {
		r := e.hosts[h].Load()
		if r == nil {
			continue
		}
		if p := r.g.Primary(); p != nil {
			for _, i := range e.t.members[h] {
				m[e.t.names[i]] = p.Pid()
			}
		}
	}
	return m
}

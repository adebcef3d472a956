//go:build linux

package audio

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Kinds of this test binary's own, registered while it initialises, as a
// program registers its kinds: the engine's node processes (this binary
// re-executed) register them too.
func init() {
	for _, k := range []Kind{invertKind, dcOffsetKind} {
		if err := RegisterKind(k); err != nil {
			panic(err)
		}
	}
	// parent-only stands for a kind registered too late (in main, after
	// worker.Main): the test process has it, its node processes do not.
	if os.Getenv("UNDERSTUDY_WORKER") == "" {
		if err := RegisterKind(Kind{Name: "parent-only", New: invertKind.New}); err != nil {
			panic(err)
		}
	}
}

// invert: one input, negated. Stateless.
var invertKind = Kind{
	Name: "invert",
	Doc:  "negates its input",
	New:  func(int, Params) (Processor, error) { return invert{}, nil },
}

type invert struct{}

func (invert) Inputs() int    { return 1 }
func (invert) Outputs() int   { return 1 }
func (invert) StateSize() int { return 0 }
func (invert) Process(_ []byte, in, out [][]float32) {
	x, y := in[0], out[0][:len(in[0])]
	for i := range x {
		y[i] = -x[i]
	}
}

// dc-offset: one input plus a constant, and a running count of the blocks
// it processed (its state), added to its second output, so that a spare
// that did not resume from the committed state would show.
var dcOffsetKind = Kind{
	Name:   "dc-offset",
	Doc:    "adds offset to its input; output 1 counts blocks",
	Params: []ParamSpec{{Name: "offset", Min: -1, Max: 1, Default: 0.25}},
	New: func(_ int, p Params) (Processor, error) {
		return dcOffset{off: float32(p["offset"])}, nil
	},
}

type dcOffset struct{ off float32 }

func (dcOffset) Inputs() int    { return 1 }
func (dcOffset) Outputs() int   { return 2 }
func (dcOffset) StateSize() int { return 4 }
func (d dcOffset) Process(state []byte, in, out [][]float32) {
	x, y, n := in[0], out[0][:len(in[0])], out[1][:len(in[0])]
	blocks := getU32(state) + 1
	for i := range x {
		y[i] = x[i] + d.off
		n[i] = float32(blocks)
	}
	putU32(state, blocks)
}

// customChain: the test source's sine through invert and dc-offset.
func customChain() (Graph, []Port) {
	return Graph{
			Rate: 48000, BlockSize: 64,
			Nodes: []Node{
				{Name: "src", Kind: "testsignal"},
				{Name: "inv", Kind: "invert"},
				{Name: "off", Kind: "dc-offset", Params: Params{"offset": 0.5}},
			},
			Edges: []Edge{
				{From: Port{"src", 1}, To: Port{"inv", 0}},
				{From: Port{"inv", 0}, To: Port{"off", 0}},
			},
		}, []Port{
			{"src", 0}, {"src", 1}, {"inv", 0}, {"off", 0}, {"off", 1},
		}
}

// checkCustom checks a render of customChain sample by sample.
func checkCustom(t *testing.T, got []float32, blocks, bs int) {
	t.Helper()
	const ch = 5
	require.Len(t, got, blocks*bs*ch)
	bad := 0
	for f := range blocks * bs {
		s := got[f*ch : (f+1)*ch]
		want := []float32{s[0], s[1], -s[1], -s[1] + 0.5, float32(f/bs + 1)}
		if !assert.Equal(t, want, s, "frame %d", f) {
			if bad++; bad > 3 {
				t.FailNow()
			}
		}
	}
	// The counter runs on, and the sine is not silent.
	assert.Equal(t, float32(blocks*bs-1), got[(blocks*bs-1)*ch])
	assert.NotZero(t, got[(bs+3)*ch+1])
}

// TestEngineCustomKinds renders kinds registered at init through the
// engine, fault-free and with each custom node's primary killed at each
// point of its cycle, and checks the output sample by sample.
func TestEngineCustomKinds(t *testing.T) {
	g, sink := customChain()
	const blocks = 150
	want, err := Render(&g, sink, blocks)
	require.NoError(t, err)
	checkCustom(t, want, blocks, g.BlockSize)

	_, got := render(t, Config{Graph: g, Sink: sink, Watchdog: 2 * time.Second}, blocks)
	checkCustom(t, got, blocks, g.BlockSize)

	for _, node := range []string{"inv", "off"} {
		for _, p := range []string{"after-output", "after-commit"} {
			t.Run(node+"/"+p, func(t *testing.T) {
				cfg := Config{Graph: g, Sink: sink, Watchdog: 2 * time.Second,
					Faults: []Fault{{Node: node, Cycle: 40, Kind: "kill", Point: p}}}
				rep, got := render(t, cfg, blocks)
				require.Len(t, rep.Failovers, 1, "%v", rep)
				checkCustom(t, got, blocks, g.BlockSize)
			})
		}
	}

	t.Run("Kinds=DefaultRegistry", func(t *testing.T) {
		g := g
		g.kinds = defaultKinds
		_, got := render(t, Config{Graph: g, Sink: sink, Watchdog: 2 * time.Second}, 20)
		checkCustom(t, got, 20, g.BlockSize)
	})
}

// TestEngineKindUnknownToNodes: a kind the engine's process knows and its
// node processes do not (registered after initialisation) fails Start with
// a clear error, and leaves nothing running.
func TestEngineKindUnknownToNodes(t *testing.T) {
	g, sink := customChain()
	g.Nodes[1].Kind = "parent-only"
	require.NoError(t, g.Validate(), "the engine's process knows the kind")
	e, err := Start(ctxT(t), Config{Graph: g, Sink: sink})
	if e != nil {
		e.Close(ctxT(t))
	}
	require.Error(t, err)
	t.Log(err)
	assert.ErrorIs(t, err, ErrInvalidGraph)
	assert.Contains(t, err.Error(), `"parent-only"`)
	assert.Contains(t, err.Error(), "init()")
	assert.NotContains(t, err.Error(), `"testsignal"`, "built-in kinds are known to every process")
}

// TestRegisterKindTooLate: once an engine has started, RegisterKind
// refuses, since the node processes could not know the kind.
func TestRegisterKindTooLate(t *testing.T) {
	defaultKinds.seal() // as the first Start does
	err := RegisterKind(Kind{Name: "late", New: invertKind.New})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrInvalidGraph)
	assert.Contains(t, err.Error(), `Kind.Name = "late"`)
	assert.Contains(t, err.Error(), "init()")
	_, ok := defaultKinds.lookup("late")
	assert.False(t, ok)
	// Other registries are not affected.
	var r registry
	require.NoError(t, r.register(Kind{Name: "late", New: invertKind.New}))
	assert.ErrorIs(t, RegisterKind(invertKind), ErrInvalidGraph)
}

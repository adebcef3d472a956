//go:build linux

package spec_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/audio"
	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/spec"
	"github.com/understudy/understudy/supervision"
)

// everySpec uses every field the file format has.
func everySpec() supervision.Spec {
	return supervision.Spec{
		Strategy:     supervision.RestForOne,
		Intensity:    supervision.Intensity{MaxRestarts: 5, Period: 30 * time.Second},
		AutoShutdown: supervision.AnySignificant,
		Children: []supervision.ChildSpec{
			{
				Name: "db",
				Process: &procbridge.Spec{
					Path: "/bin/sleep", Args: []string{"1000", "--flag=x y", "true", "null", "0x10", "'q'", "#", ""},
					Env: []string{"A=1", "B=", "C=x=y", "D=multi\nline"}, Dir: "/tmp", ReadyTimeout: 3 * time.Second,
					Stdout: procbridge.Discard, Stderr: procbridge.Lines,
				},
				Restart:     supervision.Transient,
				Shutdown:    30 * time.Second,
				Significant: true,
				Backoff:     supervision.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Multiplier: 1.5, Jitter: 0.25, ResetAfter: time.Minute},
			},
			{
				Name: "cache",
				Process: &procbridge.Spec{
					Worker: "wait", Heartbeat: procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 100 * time.Millisecond},
					StateSize: 4096, RingSize: 1 << 16,
					MemoryMax: 256 << 20, CPUMax: 0.5, PidsMax: 64,
					Stdout: spec.FileOutput("/tmp/cache.log"), Stderr: procbridge.Output{},
				},
				Standby:  2,
				Shutdown: supervision.BrutalKill,
				Backoff:  supervision.Backoff{Initial: -1},
			},
			{Name: "sdk", Process: &procbridge.Spec{Path: "/bin/true", SDK: true, Env: []string{}, ReadyTimeout: 1500 * time.Microsecond, StateSize: 100, Stdout: spec.RotatedOutput("/tmp/sdk.log", 1<<20, 3)}},
			{
				Name:     "nested",
				Restart:  supervision.Temporary,
				Shutdown: supervision.Infinity,
				Supervisor: &supervision.Spec{
					Strategy:  supervision.OneForAll,
					Intensity: supervision.Intensity{MaxRestarts: supervision.NoRestarts},
					Children: []supervision.ChildSpec{
						{Name: "a", Process: &procbridge.Spec{Path: "sleep", Stdout: procbridge.Output{}}},
						{Name: "b", Process: &procbridge.Spec{Path: "sleep"}, Backoff: supervision.Backoff{Max: time.Hour}},
					},
				},
			},
			{
				Name:     "pool",
				Shutdown: 90 * time.Second,
				Supervisor: &supervision.Spec{
					Strategy:  supervision.SimpleOneForOne,
					Intensity: supervision.Intensity{Period: time.Minute},
					Children:  []supervision.ChildSpec{{Name: "conn", Process: &procbridge.Spec{Path: "sh", Args: []string{"-c", `exec sleep "$0"`}}, Restart: supervision.Temporary}},
				},
			},
		},
	}
}

// TestRoundTrip: a spec built in code, written out and loaded back, is the
// same spec; and writing it again gives the same bytes.
func TestRoundTrip(t *testing.T) {
	tree := everySpec()
	require.NoError(t, tree.Validate())
	data, err := spec.Marshal(&spec.File{Tree: &tree})
	require.NoError(t, err)
	f, err := spec.Parse("rt.yaml", data)
	require.NoError(t, err, "%s", data)
	assert.Equal(t, tree, *f.Tree)
	again, err := spec.Marshal(&spec.File{Tree: f.Tree})
	require.NoError(t, err)
	assert.Equal(t, string(data), string(again))

	golden := "testdata/marshal.golden"
	if *updateGolden {
		require.NoError(t, os.WriteFile(golden, data, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(data), "what Marshal writes (go test -run TestRoundTrip -update-golden)")
}

func TestRoundTripFile(t *testing.T) {
	tree := everySpec()
	file := &spec.File{
		Name: "app",
		Tree: &tree,
		Instances: []spec.Instance{
			{Supervisor: []string{"pool"}, Args: []string{"100"}},
			{Supervisor: []string{"pool"}},
		},
		Audio: &spec.Audio{
			Config: audio.Config{
				Graph: audio.Graph{
					Rate: 44100, BlockSize: 256,
					Nodes: []audio.Node{
						{Name: "osc", Kind: "sine", Params: audio.Params{"freq": 440.5, "amp": 1e-3}},
						{Name: "mix", Kind: "mixer", Params: audio.Params{"inputs": 2, "gain1": -0.25}, Process: "light"},
						{Name: "ts", Kind: "testsignal", Process: "light"},
					},
					Edges: []audio.Edge{
						{From: audio.Port{Node: "osc"}, To: audio.Port{Node: "mix"}},
						{From: audio.Port{Node: "ts", Port: 2}, To: audio.Port{Node: "mix", Port: 1}},
					},
				},
				Sink:  []audio.Port{{Node: "mix"}, {Node: "ts"}},
				WAV:   "/tmp/out.wav",
				Slack: audio.NoSlack, Spares: 3,
			},
			Duration: 1500 * time.Millisecond,
		},
	}
	data, err := spec.Marshal(file)
	require.NoError(t, err)
	f, err := spec.Parse("rt.yaml", data)
	require.NoError(t, err, "%s", data)
	assert.Equal(t, file.Name, f.Name)
	assert.Equal(t, *file.Tree, *f.Tree)
	assert.Equal(t, file.Instances, f.Instances)
	assert.Equal(t, file.Audio, f.Audio)

	file.Tree, file.Instances = nil, nil
	data, err = spec.Marshal(file)
	require.NoError(t, err)
	f, err = spec.Parse("rt.yaml", data)
	require.NoError(t, err, "%s", data)
	assert.Nil(t, f.Tree)
	assert.Equal(t, file.Audio, f.Audio)

	file.Audio.Config.Sink = file.Audio.Config.Graph.Outputs()
	data, err = spec.Marshal(file)
	require.NoError(t, err)
	assert.NotContains(t, string(data), "ports:", "the graph's outputs are the default")
	f, err = spec.Parse("rt.yaml", data)
	require.NoError(t, err, "%s", data)
	assert.Equal(t, file.Audio, f.Audio)

	file.Audio.Config.RealTime = true
	_, err = spec.Marshal(file)
	assert.EqualError(t, err, "spec: marshal: Audio.Config: only Graph, Sink, WAV, Slack and Spares are in the file format: supervision: invalid value")
}

// TestRoundTripTestdata: each valid file of testdata/, loaded, written out
// and loaded again, is the same.
func TestRoundTripTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	require.NoError(t, err)
	for _, name := range files {
		if strings.HasPrefix(filepath.Base(name), "bad") {
			continue
		}
		t.Run(filepath.Base(name), func(t *testing.T) {
			f, err := spec.Load(name)
			require.NoError(t, err)
			data, err := spec.Marshal(f)
			require.NoError(t, err)
			g, err := spec.Parse(name, data)
			require.NoError(t, err, "%s", data)
			assert.Equal(t, f.Name, g.Name)
			assert.Equal(t, f.Tree, g.Tree)
			assert.Equal(t, f.Instances, g.Instances)
			assert.Equal(t, f.Audio, g.Audio)
		})
	}
}

// TestMarshalRejects: what the file format cannot hold is an error naming
// the field, never a file that loads as something else.
func TestMarshalRejects(t *testing.T) {
	one := func(p procbridge.Spec) supervision.Spec {
		return supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: &p}}}
	}
	tests := []struct {
		name string
		spec supervision.Spec
		want string
	}{
		{"extra files", one(procbridge.Spec{Path: "x", ExtraFiles: []*os.File{os.Stdin}}),
			"spec: marshal: Tree.Children[0].Process.ExtraFiles: open files are not in the file format: supervision: invalid value"},
		{"stop grace", one(procbridge.Spec{Path: "x", StopGrace: time.Second}),
			"spec: marshal: Tree.Children[0].Process.StopGrace: not in the file format: set the child's Shutdown, which supervision uses in its place: supervision: invalid value"},
		{"process name", one(procbridge.Spec{Path: "x", Name: "other"}),
			`spec: marshal: Tree.Children[0].Process.Name: "other": not in the file format (the child's name names its process): supervision: invalid value`},
		{"writer", one(procbridge.Spec{Path: "x", Stdout: procbridge.ToWriter(&bytes.Buffer{})}),
			"spec: marshal: Tree.Children[0].Process.Stdout: a writer to a *bytes.Buffer is not in the file format (only an output file a spec file declared): supervision: invalid value"},
		{"env", one(procbridge.Spec{Path: "x", Env: []string{"NOEQUALS", "A=1", "A=2"}}),
			"spec: marshal: Tree.Children[0].Process.Env[0]: \"NOEQUALS\" is not NAME=value: supervision: invalid value\n" +
				"spec: marshal: Tree.Children[0].Process.Env[2]: A is set twice: supervision: invalid value"},
		{"no program", one(procbridge.Spec{}),
			"spec: marshal: Tree.Children[0].Process.Path: empty: set Path or Worker: supervision: invalid value"},
		{"both programs", one(procbridge.Spec{Path: "x", Worker: "wait"}),
			"spec: marshal: Tree.Children[0].Process.Worker: Path is set too; set exactly one: supervision: invalid value"},
		{"strategy", supervision.Spec{Strategy: "all_for_one", Children: one(procbridge.Spec{Path: "x"}).Children},
			`spec: marshal: Tree.Strategy: unknown strategy "all_for_one": supervision: invalid value`},
		{"process and supervisor", supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: &procbridge.Spec{Path: "x"}, Supervisor: &supervision.Spec{}}}},
			"spec: marshal: Tree.Children[0].Supervisor: Process is set too; set exactly one: supervision: invalid value"},
		{"negative grace", supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: &procbridge.Spec{Path: "x"}, Shutdown: -2 * time.Second}}},
			"spec: marshal: Tree.Children[0].Shutdown: -2s: a negative grace period: supervision: invalid value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := spec.Marshal(&spec.File{Tree: &tt.spec})
			require.Error(t, err, "%s", data)
			assert.Equal(t, tt.want, err.Error())
			assert.ErrorIs(t, err, supervision.ErrInvalid)
		})
	}
}

func TestFileOutput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	o := spec.NewFileOutput(path)
	_, err := o.Write([]byte("one\n"))
	require.NoError(t, err)
	_, err = o.Write([]byte("two\n"))
	require.NoError(t, err)
	require.NoError(t, o.Close())
	require.NoError(t, o.Close(), "twice")
	_, err = o.Write([]byte("three\n"))
	assert.ErrorIs(t, err, os.ErrClosed)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "one\ntwo\n", string(data))

	f, err := spec.Parse(filepath.Join(filepath.Dir(path), "t.yaml"), []byte("children: [{name: a, command: sleep, stdout: ./out.log}]"))
	require.NoError(t, err)
	_, err = hooks.OutputWriter(f.Tree.Children[0].Process.Stdout).Write([]byte("appended\n"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "one\ntwo\nappended\n", string(data))
}

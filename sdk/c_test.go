//go:build linux

package sdk_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/spec"
)

// The C SDK's row: c/understudy.c and c/testdata/scenario.c, built with
// the system's C compiler (cc) as C11, warnings as errors.
func init() { addRow(sdkRow{name: "c", tool: "cc", program: cProgram}) }

var cBuild once

func cProgram(t testing.TB) program {
	cc := requireTool(t, "cc")
	path := cBuild.get(t, func() (string, error) {
		out := filepath.Join(buildDir, "cscenario")
		return out, run(cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-pthread",
			"-Ic", "-o", out, "c/understudy.c", "c/testdata/scenario.c")
	})
	return program{Path: path}
}

// TestCExample: the C example worker builds as its README says, warnings
// as errors, and its spec file is valid.
func TestCExample(t *testing.T) {
	cc := requireTool(t, "cc")
	out := filepath.Join(t.TempDir(), "counter")
	require.NoError(t, run(cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-pthread",
		"-Ic", "-o", out, "../examples/c/counter.c", "c/understudy.c"))
	_, err := spec.Load("../examples/c/counter.yaml")
	require.NoError(t, err)
}

// TestCNodeExample: the C node example builds as its README says, warnings
// as errors, and its graph file, beside the built node, is valid: the
// engine asked the node for its ports and parameters and checked them.
func TestCNodeExample(t *testing.T) {
	cc := requireTool(t, "cc")
	dir := t.TempDir()
	require.NoError(t, run(cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-pthread",
		"-Ic", "-o", filepath.Join(dir, "biquad"), "../examples/cnode/biquad.c", "c/understudy_node.c", "c/understudy.c", "-lm"))
	yaml, err := os.ReadFile("../examples/cnode/graph.yaml")
	require.NoError(t, err)
	file := filepath.Join(dir, "graph.yaml")
	require.NoError(t, os.WriteFile(file, yaml, 0o644))
	f, err := spec.Load(file)
	require.NoError(t, err)
	require.NotNil(t, f.Audio)
	require.NoError(t, f.Audio.Config.Graph.Validate())
	assert.Equal(t, filepath.Join(dir, "biquad"), f.Audio.Config.Graph.Nodes[1].Path)
}

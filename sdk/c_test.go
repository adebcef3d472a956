//go:build linux

package sdk_test

import (
	"path/filepath"
	"testing"

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

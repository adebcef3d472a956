//go:build linux

package sdk_test

import (
	"path/filepath"
	"testing"
)

// The C SDK's row: c/understudy.c and c/testdata/scenario.c, built with
// the system's C compiler (cc) as C11, warnings as errors.
func init() { addRow(sdkRow{name: "c", program: cProgram}) }

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

//go:build linux

package sdk_test

import (
	"path/filepath"
	"testing"
)

// The Go SDK's row: testdata/goscenario, built with this toolchain.
func init() { addRow(sdkRow{name: "go", tool: "go", program: goProgram}) }

var goBuild once

func goProgram(t testing.TB) program {
	gotool := requireTool(t, "go")
	path := goBuild.get(t, func() (string, error) {
		out := filepath.Join(buildDir, "goscenario")
		return out, run(gotool, "build", "-o", out, "./testdata/goscenario")
	})
	return program{Path: path}
}

//go:build linux

package sdk_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Python package's row: python/tests/scenario_worker.py run by the
// interpreter in UNDERSTUDY_PYTHON (CI's, a virtual environment the
// package was installed into with pip), else by python3 with the
// package's source on PYTHONPATH.
func init() { addRow(sdkRow{name: "python", tool: "python3", program: pyProgram}) }

// envPython names the interpreter to run the Python row with.
const envPython = "UNDERSTUDY_PYTHON"

var pyBuild once

func pyProgram(t testing.TB) program {
	script, err := filepath.Abs(filepath.Join("python", "tests", "scenario_worker.py"))
	if err != nil {
		t.Fatal(err)
	}
	if py := os.Getenv(envPython); py != "" {
		path, err := exec.LookPath(py)
		if err != nil {
			t.Fatalf("%s = %q: %v", envPython, py, err)
		}
		return program{Path: path, Args: []string{script}}
	}
	py := pyBuild.get(t, func() (string, error) {
		// The interpreter itself, not a launcher script (pyenv's shims
		// take a second to start on a busy machine).
		out, err := exec.Command(requireTool(t, "python3"), "-c", "import sys; print(sys.executable)").Output()
		return strings.TrimSpace(string(out)), err
	})
	src, err := filepath.Abs(filepath.Join("python", "src"))
	if err != nil {
		t.Fatal(err)
	}
	return program{Path: py, Args: []string{script}, Env: []string{"PYTHONPATH=" + src}}
}

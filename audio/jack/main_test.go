package jack

import (
	"testing"

	"github.com/understudy/understudy/internal/testproc"
)

// TestMain runs a node worker when the test binary is re-executed as one
// (the engine's node processes), or the staller (stall_test.go), and
// checks for leaked goroutines otherwise.
func TestMain(m *testing.M) { testproc.Run(m, roles...) }

// roles are the re-executed binary's roles beside a node worker.
var roles []func()

package jack

import (
	"testing"

	"github.com/understudy/understudy/internal/testproc"
)

// TestMain runs a node worker when the test binary is re-executed as one
// (the engine's node processes), and checks for leaked goroutines
// otherwise.
func TestMain(m *testing.M) { testproc.Run(m) }

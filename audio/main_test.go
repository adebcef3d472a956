package audio

import (
	"testing"

	"github.com/understudy/understudy/internal/testproc"
)

// TestMain runs a node worker when the test binary is re-executed as one
// (the engine's node processes), and checks for leaked goroutines
// otherwise. The forker is procbridge's, alive for the whole program.
func TestMain(m *testing.M) { testproc.Run(m) }

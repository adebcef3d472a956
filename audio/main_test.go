package audio

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/understudy/understudy/procbridge/worker"
)

// TestMain runs a node worker when the test binary is re-executed as one
// (the engine's node processes), and checks for leaked goroutines
// otherwise. The forker is procbridge's, alive for the whole program.
func TestMain(m *testing.M) {
	worker.Main()
	// Under -race every process sleeps a second on its way out (the race
	// runtime's atexit_sleep_ms); the node processes, which the tests
	// start by the hundred, need not.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/understudy/understudy/procbridge.forkLoop"))
}

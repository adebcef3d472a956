//go:build linux

package worker_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/understudy/understudy/procbridge/worker"
)

func TestMain(m *testing.M) {
	worker.Main() // when re-executed as a worker, run it and exit
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/understudy/understudy/procbridge.forkLoop"))
}

// Package testproc is the part of TestMain that the tests of every package
// here share. Their tests start real processes by re-executing the test
// binary as a worker (procbridge/worker), so each TestMain must first let
// the binary become that worker, and then run the tests with a leak check.
// Only tests import it.
package testproc

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/understudy/understudy/procbridge/worker"
)

// Run is a whole TestMain. When the binary was re-executed as a worker, it
// runs that worker and exits (worker.Main); then each of roles, which may
// likewise take over the process for a role of the package's own (and
// exit); otherwise it runs the tests and fails them on a leaked goroutine.
//
// The workers the tests start are race-built like the tests: the race
// runtime would sleep a second as each of them exits (atexit_sleep_ms),
// which would slow every clean stop, so Run turns that off for them.
func Run(m *testing.M, roles ...func()) {
	worker.Main()
	for _, role := range roles {
		role()
	}
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	// procbridge's forker lives as long as the program, by design.
	VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/understudy/understudy/procbridge.forkLoop"))
}

package testproc

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/understudy/understudy/internal/deathwatch"
)

// Leaks is goleak.Find given until Deadline for goroutines on their way
// out to end. Find alone waits under half a second, and some goroutines
// end only when the kernel is done: procbridge's reaper, for one, waits in
// wait4 until the last thread of a worker's group has exited, which on a
// loaded machine tearing down a race-built process takes seconds. A
// goroutine that is leaked stays, and is reported all the same.
func Leaks(opts ...goleak.Option) error {
	deathwatch.EndLinger() // its reader stays a while after the last process
	end := time.Now().Add(Deadline)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(end) {
			return err
		}
	}
}

// VerifyTestMain is goleak.VerifyTestMain with Leaks' patience: it runs
// the tests, and fails a successful run on a goroutine that outlives them.
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		if err := Leaks(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: Errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

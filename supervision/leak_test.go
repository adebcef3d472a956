//go:build linux

package supervision_test

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// TestRestartsLeakNothing restarts a crashing worker many times through the
// whole stack (procbridge, ProcessActor, supervisor) and checks that no
// descriptor and no goroutine is left behind; goleak checks the goroutines
// again when the package's tests end. Backoff is off and the intensity high
// enough.
//
// 1,000 restarts use /bin/false, a real process that fails at once and
// costs a few milliseconds per restart, where re-executing the race-built
// test binary costs tens. 200 more use a worker of the test binary, which
// attaches to its shared-memory segment.
func TestRestartsLeakNothing(t *testing.T) {
	tests := []struct {
		name     string
		spec     *procbridge.Spec
		restarts int
	}{
		{"executable", &procbridge.Spec{Path: "/bin/false"}, 1000},
		{"sdk worker", proc("crash"), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fds := openFds(t)
			goroutines := runtime.NumGoroutine()
			spec := supervision.Spec{
				Intensity: supervision.Intensity{MaxRestarts: 1 << 20, Period: time.Second},
				Children:  []supervision.ChildSpec{{Name: "steady", Process: proc("wait")}},
			}
			crasher := supervision.ChildSpec{Name: "crasher", Process: tt.spec, Backoff: supervision.Backoff{Initial: -1}}
			began := time.Now()
			done := make(chan struct{})
			n := 0
			tree, err := supervision.Start(ctxT(t), spec, supervision.Options{OnEvent: goOnWhenReady(func(ev supervision.Event) {
				if r, ok := ev.(supervision.ChildRestarting); ok && r.Child == "crasher" {
					if n++; n == tt.restarts {
						close(done)
					}
				}
			}, "crasher")})
			require.NoError(t, err)
			// /bin/false may die before procbridge.Start has seen it
			// run, which makes its start fail (and StartChild drop it);
			// once it is in, every end is a failure to restart.
			for {
				_, err := tree.Supervisor().StartChild(ctxT(t), crasher)
				if !errors.Is(err, supervision.ErrStartFailed) {
					require.NoError(t, err)
					break
				}
			}
			select {
			case <-done:
			case <-time.After(10 * deadline):
				t.Fatalf("too few restarts after %v", 10*deadline)
			}
			report, err := tree.Stop(ctxT(t))
			require.NoError(t, err)
			assert.Empty(t, report, "every child stopped in time")
			elapsed := time.Since(began)
			t.Logf("%d restarts in %v (%v per restart)", tt.restarts, elapsed.Round(time.Millisecond), (elapsed / time.Duration(tt.restarts)).Round(time.Microsecond))
			_, err = tree.Supervisor().Children(ctxT(t))
			assert.ErrorIs(t, err, supervision.ErrNoSupervisor)

			assert.Equal(t, fds, openFds(t), "open descriptors")
			// The last mailbox goroutines may still be winding down:
			// allow a few here; goleak is exact at the end.
			assert.Less(t, runtime.NumGoroutine(), goroutines+5, "goroutines")
		})
	}
}

//go:build linux

package actors_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/internal/actors"
	"github.com/understudy/understudy/internal/testproc"
)

// TestMain runs a helper worker when the test binary is re-executed as one,
// and checks for leaked goroutines otherwise.
func TestMain(m *testing.M) { testproc.Run(m) }

// Helpers: each is a worker the tests start by name.
func init() {

}

// quietSystem returns an actor system that logs nothing; its dead-letter
// throttle is short, so its goroutine ends within goleak's retries.
func quietSystem() *actor.ActorSystem {
	return actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
}

// observer spawns an actor that forwards every Notification it gets to the
// returned channel, and stops it when the test ends.
func observer(t *testing.T, system *actor.ActorSystem) (*actor.PID, <-chan actors.Notification) {
	t.Helper()
	c := make(chan actors.Notification, 256)
	pid, err := system.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if n, ok := ctx.Message().(actors.Notification); ok {
			c <- n
		}
	}), "observer"+system.ProcessRegistry.NextId())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	return pid, c
}

// next returns the next notification of type T, skipping others, or fails
// the test after the deadline.
func next[T actors.Notification](t *testing.T, c <-chan actors.Notification) T {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case n := <-c:
			if v, ok := n.(T); ok {
				return v
			}
		case <-timeout:
			var zero T
			t.Fatalf("no %T after %v", zero, deadline)
			return zero
		}
	}
}

// recv returns the next value from c, or fails the test after the deadline.
func recv[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(deadline):
		var zero T
		t.Fatalf("nothing on %T after %v", c, deadline)
		return zero
	}
}

// The shared test helpers, by their short names here.
var (
	ctxT     = testproc.Context
	waitGone = testproc.WaitGone
	openFds  = testproc.OpenFds
)

const deadline = testproc.Deadline

//go:build linux

package actors_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/actors"
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

// TestMain runs a helper worker when the test binary is re-executed as one,
// and checks for leaked goroutines otherwise.
func TestMain(m *testing.M) { testproc.Run(m) }

// Helpers: each is a worker the tests start by name.
func init() {
	// exit is ready, then, on SIGUSR1, exits with the status its argument
	// says. (A worker that exits as soon as it is ready may be reported as
	// never ready: procbridge.Start sees the death and the ready word at
	// once and may pick either. So the test says when.)
	worker.Register("exit", func(ctx context.Context, w *worker.Worker) error {
		code, _ := strconv.Atoi(w.Args()[0])
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		w.Ready()
		select {
		case <-usr1:
			os.Exit(code)
		case <-ctx.Done():
		}
		return nil
	})
	// stop-beating beats a few times, then its loop stops beating.
	worker.Register("stop-beating", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		for range 5 {
			w.Beat()
			time.Sleep(w.HeartbeatInterval())
		}
		select {}
	})
}

var warm sync.Once

// deadline is how long a test waits for something before it calls it a hang.
const deadline = 20 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
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

// waitGone waits until pid has ended, or fails the test after the deadline.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(deadline/time.Millisecond))
	if err != nil || n == 0 {
		t.Fatalf("pid %d still alive after %v", pid, deadline)
	}
}

// openFds counts this process's open descriptors, after procbridge has
// opened the ones it keeps for the life of the program (the lifeline pipe,
// /dev/null).
func openFds(t *testing.T) int {
	t.Helper()
	warm.Do(func() {
		p, err := procbridge.Start(context.Background(), procbridge.Spec{Worker: "wait"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-p.Done()
	})
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

//go:build linux

package actors_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/internal/actors"
	"github.com/understudy/understudy/procbridge"
)

// A ProcessActor at the top level: it starts its worker when spawned,
// answers status requests, and stops the worker when stopped.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))

	// An observer learns when the worker is ready.
	ready := make(chan *actors.ProcessReady, 1)
	observer, _ := system.Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if r, ok := c.Message().(*actors.ProcessReady); ok {
			ready <- r
		}
	}), "observer")

	props, _, err := actors.NewProps(procbridge.Spec{Worker: "wait"}, actors.Options{Observer: observer})
	if err != nil {
		fmt.Println(err)
		return
	}
	pid, _ := system.Root.SpawnNamed(props, "worker")
	<-ready

	st, err := actors.QueryStatus(ctx, system, pid)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Name, st.State, "incarnation", st.Incarnation)

	_ = system.Root.StopFuture(pid).Wait() // SIGTERM; the worker exits
	_ = system.Root.StopFuture(observer).Wait()
	// Output: wait running incarnation 1
}

// restartingParent is an ordinary protoactor parent: it implements
// actor.SupervisorStrategy and decides from the typed reason.
type restartingParent struct {
	child   *actor.Props
	reasons chan<- string
}

func (p *restartingParent) Receive(c actor.Context) {
	if _, ok := c.Message().(*actor.Started); ok {
		_, _ = c.SpawnNamed(p.child, "worker")
	}
}

func (p *restartingParent) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	var xe *procbridge.ExitError
	if err, ok := reason.(error); ok && errors.As(err, &xe) {
		p.reasons <- fmt.Sprintf("%s died: %v, %v", child.Id, xe.Exit.Kind, xe.Exit.Signal)
		sup.RestartChildren(child) // a new process under the same PID
		return
	}
	sup.StopChildren(child)
}

// Any protoactor parent can supervise a ProcessActor: the process's death is
// the actor's failure, and the reason is the *procbridge.ExitError.
func ExampleNewProps_supervised() {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	ready := make(chan *actors.ProcessReady, 2)
	observer, _ := system.Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if r, ok := c.Message().(*actors.ProcessReady); ok {
			ready <- r
		}
	}), "observer")
	props, _, _ := actors.NewProps(procbridge.Spec{Worker: "wait"}, actors.Options{Observer: observer})

	reasons := make(chan string, 1)
	parent, _ := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &restartingParent{child: props, reasons: reasons}
	}), "parent")

	first := <-ready
	_ = syscall.Kill(first.Pid, syscall.SIGKILL) // a crash
	fmt.Println(<-reasons)
	second := <-ready
	fmt.Println("incarnation", second.Incarnation, "new pid:", second.Pid != first.Pid)

	_ = system.Root.StopFuture(parent).Wait()
	_ = system.Root.StopFuture(observer).Wait()
	// Output:
	// parent/worker died: signal, killed
	// incarnation 2 new pid: true
}

//go:build linux

package supervision_test

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// A tree of two workers under one supervisor: one of them is killed, the
// supervisor restarts it (one_for_one: its sibling is not touched), and
// Stop stops both, in reverse start order.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	restarted := make(chan struct{})
	spec := supervision.Spec{
		Strategy: supervision.OneForOne,
		Children: []supervision.ChildSpec{
			{Name: "db", Process: &procbridge.Spec{Worker: "wait"}},
			{Name: "web", Process: &procbridge.Spec{Worker: "wait"}},
		},
	}
	tree, err := supervision.Start(ctx, spec, supervision.Options{
		// Events of one supervisor arrive in order, on its goroutine.
		OnEvent: func(ev supervision.Event) {
			h := ev.EventHeader()
			switch e := ev.(type) {
			case supervision.ChildReady:
				fmt.Printf("%s/%s ready (incarnation %d)\n", h.Supervisor, h.Child, h.Incarnation)
				if h.Incarnation == 2 {
					close(restarted)
				}
			case supervision.ChildExited:
				fmt.Printf("%s/%s exited: %v\n", h.Supervisor, h.Child, e.Exited.Exit)
			case supervision.ChildRestarting:
				fmt.Printf("%s/%s restarting (restart %d)\n", h.Supervisor, h.Child, e.Restarts)
			case supervision.ChildStopped:
				fmt.Printf("%s/%s stopped (%s), killed: %v\n", h.Supervisor, h.Child, e.Reason, e.Killed)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	children, _ := tree.Root().Children(ctx)
	_ = syscall.Kill(children[1].Pid, syscall.SIGKILL) // web
	<-restarted

	late, err := tree.Stop(ctx)
	fmt.Println(len(late), "late", err)
	// Output:
	// root/db ready (incarnation 1)
	// root/web ready (incarnation 1)
	// root/web exited: killed by SIGKILL
	// root/web restarting (restart 1)
	// root/web ready (incarnation 2)
	// root/web stopped (shutdown), killed: false
	// root/db stopped (shutdown), killed: false
	// 0 late <nil>
}

// A supervisor whose children fail more often than its intensity allows
// gives up: it stops its children and fails to its parent; at the root,
// the tree ends, and Wait returns the reason, whose chain leads to the
// process failure.
func Example_escalation() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := supervision.Spec{Children: []supervision.ChildSpec{{
		Name: "mid",
		Supervisor: &supervision.Spec{
			Intensity: supervision.Intensity{MaxRestarts: supervision.NoRestarts},
			Children:  []supervision.ChildSpec{{Name: "crasher", Process: &procbridge.Spec{Worker: "crash"}}},
		},
	}}}
	spec.Intensity = supervision.Intensity{MaxRestarts: supervision.NoRestarts}
	tree, err := supervision.Start(ctx, spec, supervision.Options{
		// The "crash" worker kills itself when told to (SIGUSR1).
		OnEvent: func(ev supervision.Event) {
			if r, ok := ev.(supervision.ChildReady); ok && r.Child == "crasher" {
				_ = syscall.Kill(r.Ready.Pid, syscall.SIGUSR1)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = tree.Wait(ctx)
	var xe *procbridge.ExitError
	fmt.Println(errors.Is(err, supervision.ErrIntensity), errors.As(err, &xe), xe.Exit.Signal)
	// Output: true true killed
}

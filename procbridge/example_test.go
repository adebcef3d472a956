//go:build linux

package procbridge_test

import (
	"context"
	"fmt"

	"github.com/understudy/understudy/procbridge"
)

// A worker that exits with status 3: the bridge says so, and calls it a
// failure.
func Example() {
	ctx := context.Background()
	p, err := procbridge.Start(ctx, procbridge.Spec{Worker: "exit-now", Args: []string{"3"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for e := range p.Events() {
		switch e := e.(type) {
		case procbridge.Ready:
			fmt.Println("ready")
		case procbridge.Exited:
			fmt.Println(e.Exit.Kind, e.Exit)
			fmt.Println(e.Err != nil)
		}
	}
	// Output:
	// ready
	// code exited 3
	// true
}

// Stop ends a worker gracefully: SIGTERM, the grace period, then SIGKILL.
func ExampleProcess_Stop() {
	ctx := context.Background()
	p, err := procbridge.Start(ctx, procbridge.Spec{Worker: "wait"})
	if err != nil {
		fmt.Println(err)
		return
	}
	exit, err := p.Stop(ctx)
	fmt.Println(exit, err)
	// Output:
	// stopped by us: exited 0 <nil>
}

// A bad spec is refused before anything starts, naming the field.
func ExampleSpec_Validate() {
	s := procbridge.Spec{Worker: "wait", Heartbeat: procbridge.Heartbeat{Interval: 5e6, Timeout: 2e6}}
	fmt.Println(s.Validate())
	// Output:
	// procbridge: bad spec: Heartbeat.Timeout = 2ms: must be above Heartbeat.Interval (5ms)
}

package supervision_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// TestEventLines: every event prints as one readable line, its child's
// path and incarnation first, procbridge's event inside as it prints.
func TestEventLines(t *testing.T) {
	h := supervision.Header{Supervisor: "root", Child: "db", Incarnation: 2, Restarts: 1, Time: time.Now()}
	killed := procbridge.Exit{Kind: procbridge.ExitSignal, Code: -1, Signal: syscall.SIGKILL}
	stopped := procbridge.Exit{Kind: procbridge.ExitStopped}
	crash := &procbridge.ExitError{Name: "db", Pid: 4242, Exit: killed}
	sibling := &procbridge.ExitError{Name: "web", Pid: 4250, Exit: procbridge.Exit{Kind: procbridge.ExitCode, Code: 3}}
	for _, tc := range []struct {
		ev   supervision.Event
		want string
	}{
		{supervision.ChildStarted{Header: h}, "root/db#2: started"},
		{supervision.ChildReady{Header: h, Ready: &procbridge.Ready{Pid: 4242, SpawnToReady: 3123 * time.Microsecond}},
			"root/db#2: pid 4242 ready in 3.1ms"},
		{supervision.ChildReady{Header: h}, "root/db#2: ready (all its children are)"},
		{supervision.ChildExited{Header: h, Err: crash, Exited: &procbridge.Exited{Pid: 4242, Exit: killed, Err: crash}},
			"root/db#2: pid 4242 exited: killed by SIGKILL"},
		{supervision.ChildExited{Header: h, Err: errors.New("supervision: root/db gave up: ...\nand more")},
			"root/db#2: failed: supervision: root/db gave up: ...; and more"},
		{supervision.ChildExited{Header: h}, "root/db#2: shut itself down"},
		{supervision.ChildProcess{Header: h, Event: procbridge.Dying{Pid: 4242}}, "root/db#2: pid 4242 dying"},
		{supervision.ChildProcess{Header: h, Event: procbridge.Hung{Pid: 4242,
			Err: &procbridge.HangError{Silence: 12 * time.Millisecond, Timeout: 10 * time.Millisecond, Kind: "spinning"}}},
			"root/db#2: pid 4242 hung (spinning): no heartbeat for 12ms (timeout 10ms)"},
		{supervision.ChildProcess{Header: h, Event: procbridge.Promoted{From: 4242, To: 4243, Epoch: 2, Cause: procbridge.Dying{Pid: 4242}}},
			"root/db#2: pid 4243 took over from pid 4242 (epoch 2): pid 4242 dying"},
		{supervision.ChildProcess{Header: h, Event: procbridge.Promoted{From: 4242, To: 4243, Epoch: 3}, Cause: sibling},
			"root/db#2: pid 4243 took over from pid 4242 (epoch 3): switched on request; a switch in a sibling's restart, after: procbridge: web (pid 4250) exited 3"},
		{supervision.ChildProcess{Header: h, Event: procbridge.SpareReady{Pid: 4244, Lane: 1}}, "root/db#2: spare pid 4244 ready in lane 1"},
		{supervision.ChildProcess{Header: h, Event: procbridge.SpareDown{Pid: 4244, Lane: 1, Exit: &killed}},
			"root/db#2: spare pid 4244 (lane 1) lost: killed by SIGKILL; replacement now"},
		{supervision.ChildRestarting{Header: h, Cause: crash}, "root/db#2: restarting (restart 1) after: procbridge: db (pid 4242) killed by SIGKILL"},
		{supervision.ChildRestarting{Header: h, Cause: crash, Delay: 200 * time.Millisecond, NotSwitched: procbridge.ErrNoSpare},
			"root/db#2: restarting in 200ms (restart 1) after: procbridge: db (pid 4242) killed by SIGKILL; cold, not switched to a spare: procbridge: no spare ready"},
		{supervision.ChildStopped{Header: h, Pid: 4242, Reason: "shutdown", Took: 1234 * time.Microsecond, Exit: &stopped},
			"root/db#2: stopped (shutdown) in 1.2ms: stopped by us: exited 0"},
		{supervision.ChildStopped{Header: h, Pid: 4242, Reason: "restart", Took: 2 * time.Second, Killed: true,
			Exit: &procbridge.Exit{Kind: procbridge.ExitStopped, Code: -1, Signal: syscall.SIGKILL}},
			"root/db#2: stopped (restart) in 2s, killed after its grace period: stopped by us: killed by SIGKILL"},
		{supervision.ChildStopped{Header: h, Reason: "terminate", Took: 5 * time.Second, Late: true},
			"root/db#2: stopped (terminate) in 5s, LATE: still not gone when its bound passed"},
		{supervision.ChildTerminated{Header: h}, "root/db#2: terminated, not restarted"},
		{supervision.ChildTerminated{Header: h, Removed: true}, "root/db#2: terminated, not restarted, removed"},
		{supervision.GaveUp{Header: h, Cause: crash, Intensity: supervision.Intensity{MaxRestarts: 3, Period: 10 * time.Second}},
			`root: gave up: 4 restarts within 10s exceed its intensity (3 within 10s); the last failure: child "db"#2: procbridge: db (pid 4242) killed by SIGKILL`},
		{supervision.GaveUp{Header: h, Cause: crash},
			`root: gave up: child "db"#2 failed to start: procbridge: db (pid 4242) killed by SIGKILL`},
	} {
		assert.Equal(t, tc.want, tc.ev.String(), "%T", tc.ev)
		assert.Equal(t, tc.want, fmt.Sprint(tc.ev), "%T printed with %%v", tc.ev)
	}

	for _, tc := range []struct {
		err  error
		want string
	}{
		{&supervision.EscalationError{Supervisor: "root", Child: "nap", Cause: crash, MaxRestarts: 3, Period: 10 * time.Second},
			`supervision: root gave up: 4 restarts within 10s exceed its intensity (3 within 10s); the last failure: child "nap": procbridge: db (pid 4242) killed by SIGKILL`},
		{&supervision.EscalationError{Supervisor: "root/mid", Child: "nap", Cause: crash, Period: 5 * time.Second},
			`supervision: root/mid gave up: 1 restart within 5s exceeds its intensity (no restarts); the last failure: child "nap": procbridge: db (pid 4242) killed by SIGKILL`},
	} {
		assert.Equal(t, tc.want, tc.err.Error())
	}
}

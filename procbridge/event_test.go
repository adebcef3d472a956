package procbridge_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/understudy/understudy/procbridge"
)

// TestEventLines: every event, exit and error prints as one readable line.
func TestEventLines(t *testing.T) {
	t0 := time.Now()
	killed := procbridge.Exit{Kind: procbridge.ExitSignal, Code: -1, Signal: syscall.SIGKILL}
	hang := &procbridge.HangError{Name: "db", Pid: 4242, Silence: 12 * time.Millisecond, Timeout: 10 * time.Millisecond, Kind: "asleep"}
	for _, tc := range []struct {
		v    fmt.Stringer
		want string
	}{
		{procbridge.Ready{Pid: 4242, Time: t0, SpawnToReady: 3123 * time.Microsecond}, "pid 4242 ready in 3.1ms"},
		{procbridge.Hung{Pid: 4242, Time: t0, Err: hang}, "pid 4242 hung (asleep): no heartbeat for 12ms (timeout 10ms)"},
		{procbridge.Hung{Pid: 4242, Err: &procbridge.HangError{Silence: time.Second, Timeout: 100 * time.Millisecond, Kind: "held up"}},
			"pid 4242 hung (held up past the cap): no heartbeat for 1s (timeout 100ms)"},
		{procbridge.Dying{Pid: 4242, Time: t0}, "pid 4242 dying"},
		{procbridge.Exited{Pid: 4242, Exit: killed}, "pid 4242 exited: killed by SIGKILL"},
		{procbridge.Exited{Pid: 4242, Exit: procbridge.Exit{Kind: procbridge.ExitClean}, Dropped: 512},
			"pid 4242 exited: exited 0 (512 bytes of output dropped)"},
		{procbridge.Promoted{From: 4241, To: 4242, Epoch: 2, Cause: procbridge.Dying{Pid: 4241},
			Detected: t0, Switched: t0.Add(120 * time.Microsecond), ByKernel: true},
			"pid 4242 took over from pid 4241 (epoch 2): pid 4241 dying; switched in 120µs, woken by the kernel"},
		{procbridge.Promoted{From: 4241, To: 4242, Epoch: 3}, "pid 4242 took over from pid 4241 (epoch 3): switched on request"},
		{procbridge.SpareReady{Pid: 4243, Lane: 1, Time: t0}, "spare pid 4243 ready in lane 1"},
		{procbridge.SpareDown{Pid: 4243, Lane: 1, Exit: &killed, Retry: 10 * time.Millisecond},
			"spare pid 4243 (lane 1) lost: killed by SIGKILL; replacement in 10ms"},
		{procbridge.SpareDown{Lane: 1, Err: errors.New("no memory")}, "spare for lane 1 failed to start: no memory; replacement now"},
		{procbridge.Exit{Kind: procbridge.ExitCode, Code: 3}, "exited 3"},
		{procbridge.Exit{Kind: procbridge.ExitSignal, Code: -1, Signal: syscall.SIGSEGV, CoreDumped: true}, "killed by SIGSEGV (core dumped)"},
		{procbridge.Exit{Kind: procbridge.ExitStopped, Code: 0}, "stopped by us: exited 0"},
		{procbridge.Exit{Kind: procbridge.ExitKilledHung, Code: -1, Signal: syscall.SIGKILL}, "hung, killed by us: killed by SIGKILL"},
		{procbridge.Exit{Kind: procbridge.ExitNotReady, Code: 5}, "never became ready: exited 5"},
		{procbridge.Exit{Kind: procbridge.ExitKilledViolation, Code: -1, Signal: syscall.SIGKILL},
			"broke the segment protocol, killed by us: killed by SIGKILL"},
	} {
		assert.Equal(t, tc.want, tc.v.String(), "%T", tc.v)
		assert.Equal(t, tc.want, fmt.Sprint(tc.v), "%T printed with %%v", tc.v)
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&procbridge.ExitError{Name: "db", Pid: 4242, Exit: killed}, "procbridge: db (pid 4242) killed by SIGKILL"},
		{hang, "procbridge: db (pid 4242) hung (asleep): no heartbeat for 12ms (timeout 10ms)"},
		{&procbridge.SpecError{Field: "Heartbeat.Timeout", Value: "2ms", Reason: "must be above Heartbeat.Interval (5ms)"},
			"procbridge: bad spec: Heartbeat.Timeout = 2ms: must be above Heartbeat.Interval (5ms)"},
		{&procbridge.SpecError{Field: "Worker", Reason: "required"}, "procbridge: bad spec: Worker: required"},
	} {
		assert.Equal(t, tc.want, tc.err.Error())
	}
	// Each kind of end we caused matches the sentinel of its cause.
	for kind, want := range map[procbridge.ExitKind]error{
		procbridge.ExitKilledHung:      procbridge.ErrHung,
		procbridge.ExitKilledViolation: procbridge.ErrBadSegment,
		procbridge.ExitNotReady:        procbridge.ErrExitedBeforeReady,
	} {
		assert.ErrorIs(t, &procbridge.ExitError{Name: "db", Pid: 4242, Exit: procbridge.Exit{Kind: kind}}, want, "%s", kind)
	}
}

package audio

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/understudy/understudy/procbridge"
)

// TestEventLines: every event prints as one readable line.
func TestEventLines(t *testing.T) {
	killed := procbridge.Exit{Kind: procbridge.ExitSignal, Code: -1, Signal: syscall.SIGKILL}
	down := fmt.Errorf("%w: amp: %w", ErrNodeDown, errors.New("procbridge: amp (pid 4242) killed by SIGKILL"))
	for _, tc := range []struct {
		ev   Event
		want string
	}{
		{Failover{Node: "amp", Cycle: 412, Promotions: 1, Fault: "kill", Recovery: recoveredCompute, FromLane: 0, ToLane: 1,
			Detect: 92 * time.Microsecond, Switch: 140 * time.Microsecond},
			"amp: failover at block 412 (died, injected kill, recomputed), lane 0 → 1, detect 92µs, switch 140µs"},
		{Failover{Node: "amp", Process: "light", Cycle: 7, Promotions: 1, Watchdog: true, Recovery: recoveredReuse, FromLane: 1, ToLane: 0,
			Detect: 20 * time.Millisecond, Switch: time.Millisecond},
			"amp (process light): failover at block 7 (watchdog, reused committed), lane 1 → 0, detect 20ms, switch 1ms"},
		{Late{Node: "amp", Cycle: 412, By: 1200 * time.Microsecond}, "amp: block 412 late by 1.2ms"},
		{Late{Node: "amp", Cycle: 412, Missing: true}, "amp: block 412 missing"},
		{Late{Node: "amp", Cycle: 412, Missing: true, Cause: causeStall}, "amp: block 412 missing (machine stall)"},
		{NodeDown{Node: "amp", Err: down}, "amp: down: audio: node down: amp: procbridge: amp (pid 4242) killed by SIGKILL"},
		{NodeDown{Node: "amp", Process: "light", Err: down, Final: true},
			"amp (process light): down for good: audio: node down: amp: procbridge: amp (pid 4242) killed by SIGKILL"},
		{Restarted{Node: "amp", Cycle: 500, Incarnation: 2, Exit: killed, Outage: 120 * time.Millisecond},
			"amp: restarted cold from block 500 (incarnation 2, after killed by SIGKILL), out for 120ms"},
		{Restarted{Node: "amp", Process: "light", Cycle: 500, Incarnation: 3, Exit: killed, Fault: "kill", Outage: 80 * time.Millisecond},
			"amp (process light): restarted cold from block 500 (incarnation 3, after killed by SIGKILL, injected kill), out for 80ms"},
	} {
		assert.Equal(t, tc.want, tc.ev.String(), "%T", tc.ev)
		assert.Equal(t, tc.want, fmt.Sprint(tc.ev), "%T printed with %%v", tc.ev)
	}
}

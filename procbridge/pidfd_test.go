//go:build linux

package procbridge_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

// TestNoClonePidfd starts, watches and kills workers as where the fork
// refuses CLONE_PIDFD (qemu-user, some sandboxes): the pidfd comes from
// pidfd_open right after the fork (and the sentinel pipe still works
// there). The plain cases start a program
// without the SDK, so that they run under qemu-user too, where this
// binary cannot re-execute itself. PB_WANT_PIDFD_WAY, when set, is the
// way the probe must have found (before the test forces one).
func TestNoClonePidfd(t *testing.T) {
	if want := os.Getenv("PB_WANT_PIDFD_WAY"); want != "" {
		require.Equal(t, want, procbridge.PidfdWay(), "what the probe found")
	}
	procbridge.SetClonePidfdForTest(false)
	t.Cleanup(func() { procbridge.SetClonePidfdForTest(true) })
	if procbridge.PidfdWay() == "sentinel pipe" {
		t.Skip("no pidfds here")
	}
	require.Equal(t, "pidfd_open after fork", procbridge.PidfdWay())
	cases := []struct {
		name   string
		spec   procbridge.Spec
		kill   bool
		kind   procbridge.ExitKind
		code   int
		signal syscall.Signal
	}{
		{name: "sdk/killed", spec: procbridge.Spec{Worker: "wait"}, kill: true, kind: procbridge.ExitStopped, code: -1, signal: syscall.SIGKILL},
		{name: "sdk/exit3", spec: procbridge.Spec{Worker: "exit-now", Args: []string{"3"}}, kind: procbridge.ExitCode, code: 3},
		{name: "plain/killed", spec: procbridge.Spec{Path: "sleep", Args: []string{"1000"}}, kill: true, kind: procbridge.ExitStopped, code: -1, signal: syscall.SIGKILL},
		{name: "plain/exit3", spec: procbridge.Spec{Path: "sh", Args: []string{"-c", "exit 3"}}, kind: procbridge.ExitCode, code: 3},
	}
	for _, mode := range []procbridge.WatchMode{procbridge.WatchAuto, procbridge.WatchPidfd, procbridge.WatchSentinel} {
		for _, c := range cases {
			t.Run(c.name+"/"+mode.String(), func(t *testing.T) {
				p, err := startWatching(t, c.spec, mode)
				require.NoError(t, err)
				_, ok := nextEvent(t, p).(procbridge.Ready)
				require.True(t, ok, "first event is Ready")
				if c.kill {
					p.Kill()
				}
				ev := nextEvent(t, p)
				if _, dying := ev.(procbridge.Dying); dying {
					ev = nextEvent(t, p)
				}
				e, ok := ev.(procbridge.Exited)
				require.True(t, ok, "Exited, got %#v", ev)
				assert.Equal(t, p.Pid(), e.Pid)
				assert.Equal(t, c.kind, e.Exit.Kind, "kind of %v", e.Exit)
				assert.Equal(t, c.code, e.Exit.Code)
				assert.Equal(t, c.signal, e.Exit.Signal)
			})
		}
	}
}

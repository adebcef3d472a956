//go:build linux

package actors_test

import (
	"context"
	"encoding/binary"
	"errors"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/actors"
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

// TestSwitchRequest: a hot-standby ProcessActor switches to its spare on
// request. The observer hears of it first, tagged with the request's token;
// the spare counts on from the committed state; the group, its replacement
// spares and lost spares are reported.
func init() {
	// count-commands answers each command with "echo <command> <n>", n counting the
	// commands it answered, kept in its committed state: a spare that takes
	// over carries the count on.
	worker.Register("count-commands", func(ctx context.Context, w *worker.Worker) error {
		n, state, ok := testproc.ResumeCount(ctx, w)
		if !ok {
			return nil
		}
		buf := make([]byte, 256)
		for {
			m, err := w.Recv(ctx, buf)
			if err != nil {
				return nil
			}
			n++
			binary.LittleEndian.PutUint64(state, n)
			if errors.Is(w.Commit(state), worker.ErrFenced) {
				<-ctx.Done()
				return nil
			}
			reply := append([]byte("echo "), buf[:m]...)
			reply = append(reply, ' ', byte('0'+n%10))
			if err := w.Reply(reply); err != nil {
				return err
			}
		}
	})
}

func TestSwitchRequest(t *testing.T) {
	system := quietSystem()
	defer system.Shutdown()
	obs, notes := observer(t, system)
	spec := procbridge.Spec{Worker: "count-commands", RingSize: 4096, StateSize: 8}
	props, _, err := actors.NewProps(spec, actors.Options{Observer: obs, Standby: 1})
	require.NoError(t, err)
	pid, err := system.Root.SpawnNamed(props, "switch")
	require.NoError(t, err)
	defer func() { _ = system.Root.StopFuture(pid).Wait() }()

	ready := next[*actors.ProcessReady](t, notes)
	g := ready.Group
	require.NotNil(t, g, "a hot-standby actor reports its group")
	assert.Equal(t, ready.Pid, g.Primary().Pid())
	require.Len(t, g.Spares(), 1)
	spare := g.Spares()[0].Pid()
	st, err := actors.QueryStatus(ctxT(t), system, pid)
	require.NoError(t, err)
	assert.Same(t, g, st.Group)

	seg, _ := ready.Process.Segment() // the group's, whoever is primary
	ask := func(data, want string) {
		t.Helper()
		require.NoError(t, seg.Send([]byte(data)))
		buf := make([]byte, 4096)
		n, err := seg.Recv(buf, deadline)
		require.NoError(t, err)
		assert.Equal(t, want, string(buf[:n]))
	}
	ask("one", "echo one 1")

	r, err := actors.RequestSwitch(ctxT(t), system, pid, 7)
	require.NoError(t, err)
	assert.Equal(t, uint64(7), r.Token)
	assert.Equal(t, ready.Pid, r.OldPid)
	assert.Equal(t, spare, r.NewPid)
	assert.Equal(t, uint64(1), r.Epoch)
	promoted := next[*actors.ProcessPromoted](t, notes)
	assert.True(t, promoted.Requested)
	assert.Equal(t, uint64(7), promoted.Token)
	assert.Nil(t, promoted.Promoted.Cause)
	assert.Equal(t, ready.Pid, promoted.Promoted.From)
	assert.Equal(t, spare, promoted.Promoted.To)

	// The replacement spare is started once the old primary is reaped.
	replacement := next[*actors.ProcessSpareReady](t, notes)
	assert.NotEqual(t, spare, replacement.Pid)
	assert.NotEqual(t, ready.Pid, replacement.Pid)
	assert.Equal(t, 0, replacement.Lane, "the old primary's lane")
	st, err = actors.QueryStatus(ctxT(t), system, pid)
	require.NoError(t, err)
	assert.Equal(t, spare, st.Pid, "the status follows the primary")
	assert.Equal(t, 1, st.Incarnation, "a switch is not a restart")
	ask("two", "echo two 2")

	// A parked spare that dies is lost and replaced.
	require.NoError(t, syscall.Kill(replacement.Pid, syscall.SIGKILL))
	lost := next[*actors.ProcessSpareDown](t, notes)
	assert.Equal(t, replacement.Pid, lost.Pid)
	require.NotNil(t, lost.Exit, "a spare lost")
	assert.Equal(t, syscall.SIGKILL, lost.Exit.Signal)
	again := next[*actors.ProcessSpareReady](t, notes)
	assert.Equal(t, 0, again.Lane)

	// A failover is not a requested switch.
	require.NoError(t, syscall.Kill(spare, syscall.SIGKILL))
	promoted = next[*actors.ProcessPromoted](t, notes)
	assert.False(t, promoted.Requested)
	assert.NotNil(t, promoted.Promoted.Cause)
	assert.Equal(t, again.Pid, promoted.Promoted.To)
	ask("three", "echo three 3")
}

// TestSwitchRequestWithoutStandby: an actor without spares answers a
// switch with ErrNoStandby, at once.
func TestSwitchRequestWithoutStandby(t *testing.T) {
	system := quietSystem()
	defer system.Shutdown()
	obs, notes := observer(t, system)
	props, _, err := actors.NewProps(procbridge.Spec{Worker: "wait"}, actors.Options{Observer: obs})
	require.NoError(t, err)
	pid, err := system.Root.SpawnNamed(props, "plain")
	require.NoError(t, err)
	defer func() { _ = system.Root.StopFuture(pid).Wait() }()
	ready := next[*actors.ProcessReady](t, notes)
	assert.Nil(t, ready.Group)

	r, err := actors.RequestSwitch(ctxT(t), system, pid, 1)
	require.ErrorIs(t, err, actors.ErrNoStandby)
	assert.Equal(t, uint64(1), r.Token)
	assert.ErrorContains(t, err, "switch wait", "the error names the process")
	st, err := actors.QueryStatus(ctxT(t), system, pid)
	require.NoError(t, err)
	assert.Equal(t, ready.Pid, st.Pid, "nothing was switched")
	assert.Nil(t, st.Group)
}

// TestStandbyStopReportsThePrimary: a hot-standby actor that is stopped
// reports how its primary ended, stopped by us, every time.
func TestStandbyStopReportsThePrimary(t *testing.T) {
	system := quietSystem()
	defer system.Shutdown()
	obs, notes := observer(t, system)
	props, _, err := actors.NewProps(procbridge.Spec{Worker: "count-commands", StateSize: 8, RingSize: 4096}, actors.Options{Observer: obs, Standby: 1})
	require.NoError(t, err)
	for range 5 {
		pid, err := system.Root.SpawnNamed(props, "stopped"+system.ProcessRegistry.NextId())
		require.NoError(t, err)
		ready := next[*actors.ProcessReady](t, notes)
		require.NoError(t, system.Root.StopFuture(pid).Wait())
		exited := next[*actors.ProcessExited](t, notes)
		assert.Equal(t, ready.Pid, exited.Pid)
		assert.Equal(t, procbridge.ExitStopped, exited.Exit.Kind, "%v", exited.Exit)
		assert.NoError(t, exited.Err)
	}
}

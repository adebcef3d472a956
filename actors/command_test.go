package actors_test

import (
	"context"
	"encoding/binary"
	"errors"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/actors"
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

func init() {
	// echo answers each command with "echo <command> <n>", n counting the
	// commands it answered, kept in its committed state: a spare that takes
	// over carries the count on.
	worker.Register("echo", func(ctx context.Context, w *worker.Worker) error {
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

// TestCommandRoundTrip: a user message to the ProcessActor reaches its
// worker through the command ring, and the reply comes back to the sender.
func TestCommandRoundTrip(t *testing.T) {
	for _, standby := range []int{0, 1} {
		system := quietSystem()
		obs, notes := observer(t, system)
		spec := procbridge.Spec{Worker: "echo", RingSize: 4096, StateSize: 8}
		props, err := actors.NewProps(spec, actors.Options{Observer: obs, Standby: standby})
		require.NoError(t, err)
		pid, err := system.Root.SpawnNamed(props, "echo")
		require.NoError(t, err)
		ready := next[*actors.ProcessReady](t, notes)

		ask := func(data string) *actors.CommandReply {
			reply, err := actors.Request(ctxT(t), system, pid, &actors.Command{Data: []byte(data)})
			require.NoError(t, err)
			r, ok := reply.(*actors.CommandReply)
			require.True(t, ok, "%T", reply)
			return r
		}
		r := ask("one")
		require.NoError(t, r.Err)
		assert.Equal(t, "echo one 1", string(r.Data))
		r = ask("two")
		require.NoError(t, r.Err)
		assert.Equal(t, "echo two 2", string(r.Data))

		if standby > 0 {
			// The primary dies; the spare takes over and answers, counting on.
			require.NoError(t, syscall.Kill(ready.Pid, syscall.SIGKILL))
			promoted := next[*actors.ProcessPromoted](t, notes)
			assert.Equal(t, ready.Pid, promoted.OldPid)
			r = ask("three")
			require.NoError(t, r.Err)
			assert.Equal(t, "echo three 3", string(r.Data))
		}
		require.NoError(t, system.Root.StopFuture(pid).Wait())
		system.Shutdown()
	}
}

func TestCommandWithoutRing(t *testing.T) {
	system := quietSystem()
	defer system.Shutdown()
	obs, notes := observer(t, system)
	props, err := actors.NewProps(procbridge.Spec{Worker: "wait"}, actors.Options{Observer: obs})
	require.NoError(t, err)
	pid, err := system.Root.SpawnNamed(props, "noring")
	require.NoError(t, err)
	defer func() { _ = system.Root.StopFuture(pid).Wait() }()
	next[*actors.ProcessReady](t, notes)
	reply, err := actors.Request(ctxT(t), system, pid, &actors.Command{Data: []byte("x")})
	require.NoError(t, err)
	assert.Error(t, reply.(*actors.CommandReply).Err, "no ring: an error, not a hang")
}

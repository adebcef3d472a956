//go:build linux

package supervision_test

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
	"github.com/understudy/understudy/supervision"
)

func init() {
	// once-spare is ready and waits, as a primary or as the first spare
	// started after it; a later spare (counted in the file Args[0]) dies
	// before Ready, so that no spare is ready once the first is gone.
	worker.Register("once-spare", func(ctx context.Context, w *worker.Worker) error {
		if !w.Active() {
			n, err := testproc.CountStart(os.Args[1])
			if err != nil {
				return err
			}
			if n > 1 {
				os.Exit(3) // before Ready
			}
		}
		w.Ready()
		if err := w.WaitActive(ctx); err != nil {
			return nil
		}
		<-ctx.Done()
		return nil
	})
}

// TestHostileCrashRestartsTransient: the primary of a Transient hot-standby
// child killed from outside while no spare is ready is a crash, with its
// error, and the child is restarted; never a stop of ours.
func TestHostileCrashRestartsTransient(t *testing.T) {
	count := t.TempDir() + "/starts"
	spec := supervision.Spec{
		Intensity: supervision.Intensity{MaxRestarts: 10, Period: time.Minute},
		Children: []supervision.ChildSpec{{
			Name:    "hot",
			Restart: supervision.Transient,
			Process: &procbridge.Spec{Worker: "once-spare", Args: []string{count}},
			Standby: 1,
		}},
	}
	tree, rec := start(t, spec, supervision.Options{})
	root := tree.Root()
	primary := childPid(t, root, "hot")
	info, err := childOf(ctxT(t), root, "hot")
	require.NoError(t, err)
	require.Len(t, info.Spares, 1)
	spare := info.Spares[0]
	require.NoError(t, syscall.Kill(spare, syscall.SIGKILL))
	nextProcess[procbridge.SpareDown](t, rec, "root", "hot") // the spare lost
	nextProcess[procbridge.SpareDown](t, rec, "root", "hot") // a replacement failed
	require.NoError(t, syscall.Kill(primary, syscall.SIGKILL))
	ex := next[supervision.ChildExited](t, rec, "root", "hot")
	require.NotNil(t, ex.Exited)
	assert.Equal(t, procbridge.ExitSignal, ex.Exited.Exit.Kind, "%v", ex.Exited.Exit)
	var xe *procbridge.ExitError
	assert.ErrorAs(t, ex.Err, &xe)
	next[supervision.ChildRestarting](t, rec, "root", "hot")
}

// TestHostileViolationReported: a child that breaks its segment's protocol
// is reported for it (a ChildProcess carrying the procbridge.Violated),
// then ends ExitKilledViolation with an error matching ErrBadSegment, and
// a Permanent child is restarted after it.
func TestHostileViolationReported(t *testing.T) {
	spec := supervision.Spec{
		Intensity: supervision.Intensity{MaxRestarts: 10, Period: time.Minute},
		Children: []supervision.ChildSpec{{
			Name: "bad",
			Process: &procbridge.Spec{Worker: "violate-when-told",
				Heartbeat: procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 200 * time.Millisecond}},
		}},
	}
	tree, rec := start(t, spec, supervision.Options{})
	pid := childPid(t, tree.Root(), "bad")
	require.NoError(t, syscall.Kill(pid, syscall.SIGUSR1))
	v := nextProcess[procbridge.Violated](t, rec, "root", "bad")
	assert.Equal(t, pid, v.Pid)
	assert.ErrorIs(t, v.Err, procbridge.ErrBadSegment)
	ex := next[supervision.ChildExited](t, rec, "root", "bad")
	require.NotNil(t, ex.Exited)
	assert.Equal(t, procbridge.ExitKilledViolation, ex.Exited.Exit.Kind, "%v", ex.Exited.Exit)
	assert.Contains(t, ex.Exited.Exit.String(), "broke the segment protocol")
	assert.ErrorIs(t, ex.Err, procbridge.ErrBadSegment)
	next[supervision.ChildRestarting](t, rec, "root", "bad")
	next[supervision.ChildReady](t, rec, "root", "bad")
}

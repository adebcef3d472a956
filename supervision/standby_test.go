//go:build linux

package supervision_test

import (
	"context"
	"encoding/binary"
	"errors"
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
	// standby-counter counts and commits its count; a spare parks until it
	// is promoted and carries on from the committed count.
	worker.Register("standby-counter", func(ctx context.Context, w *worker.Worker) error {
		n, state, ok := testproc.ResumeCount(ctx, w)
		if !ok {
			return nil
		}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			n++
			binary.LittleEndian.PutUint64(state, n)
			if errors.Is(w.Commit(state), worker.ErrFenced) {
				<-ctx.Done()
				return nil
			}
		}
	})
}

func standbyChild(name string) supervision.ChildSpec {
	return supervision.ChildSpec{
		Name:    name,
		Process: &procbridge.Spec{Worker: "standby-counter", StateSize: 8},
		Standby: 1,
	}
}

// TestStandbyFailsOverInsteadOfRestarting: under one-for-one, killing the
// primary of a hot-standby child promotes its spare; the child does not
// restart, its sibling is untouched, and the failover counts toward the
// intensity.
func TestStandbyFailsOverInsteadOfRestarting(t *testing.T) {
	spec := supervision.Spec{
		Intensity: supervision.Intensity{MaxRestarts: 1, Period: time.Minute},
		Children:  []supervision.ChildSpec{standbyChild("hot"), {Name: "plain", Process: proc("wait")}},
	}
	tree, rec := start(t, spec, supervision.Options{})
	root := tree.Supervisor()
	primary, plain := childPid(t, root, "hot"), childPid(t, root, "plain")

	require.NoError(t, syscall.Kill(primary, syscall.SIGKILL))
	cp, p := nextPromoted(t, rec, "root", "hot")
	assert.Equal(t, primary, p.From)
	assert.NotEqual(t, primary, p.To)
	assert.Equal(t, uint64(1), p.Epoch)
	assert.Equal(t, 1, cp.Restarts)
	assert.Nil(t, cp.Cause, "a failover, not a switch")
	assert.False(t, p.Switched.Before(p.Detected))
	info, err := childOf(ctxT(t), root, "hot")
	require.NoError(t, err)
	assert.Equal(t, p.To, info.Pid)
	assert.Equal(t, 1, info.Incarnation, "a failover is not a restart of the actor")
	assert.Equal(t, plain, childPid(t, root, "plain"))
	for _, ev := range rec.events() {
		if e, ok := ev.(supervision.ChildRestarting); ok {
			t.Errorf("a hot-standby child restarted cold: %+v", e)
		}
	}

	// A second failure within the period exceeds the intensity, whether
	// the replacement spare is ready by then (a second failover) or not (a
	// cold restart): the tree gives up and ends with it as the cause.
	require.NoError(t, syscall.Kill(p.To, syscall.SIGKILL))
	err = tree.Wait(ctxT(t))
	require.Error(t, err)
	var esc *supervision.EscalationError
	require.ErrorAs(t, err, &esc)
	assert.Equal(t, "hot", esc.Child)
}

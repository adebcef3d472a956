//go:build linux

package procbridge_test

import (
	"context"
	"math"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

// The ready words: each lane's is its worker's to write, and says only
// that the worker is ready. What the supervisor saw stays seen, and what it
// did not see is not taken from the word.

func init() {
	// h-unready says Ready; told to go on (SIGUSR1), it writes its ready
	// word back to 0 and exits 3.
	worker.Register("h-unready", func(ctx context.Context, w *worker.Worker) error {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		w.Ready()
		select {
		case <-usr1:
		case <-ctx.Done():
			return nil
		}
		lane, _ := strconv.Atoi(os.Getenv("UNDERSTUDY_LANE"))
		seg := hostileSegment()
		atomic.StoreUint32(hU32(seg, hLaneBase+lane*hLaneSize+hLaneReady), 0)
		os.Exit(3)
		return nil
	})
	// h-beat-time stamps its lane's last beat with the time Args[0]
	// names ("future": the largest; "past": 1 ns after boot), counts one
	// beat, says Ready and waits.
	worker.Register("h-beat-time", func(ctx context.Context, w *worker.Worker) error {
		lane, _ := strconv.Atoi(os.Getenv("UNDERSTUDY_LANE"))
		seg := hostileSegment()
		at := int64(math.MaxInt64)
		if os.Args[1] == "past" {
			at = 1
		}
		atomic.StoreInt64((*int64)(unsafe.Pointer(&seg[hLaneBase+lane*hLaneSize+8])), at)
		atomic.AddUint64(hU64(seg, hLaneBase+lane*hLaneSize), 1)
		w.Ready()
		<-ctx.Done()
		return nil
	})
	// h-unready-spare, as the primary, waits for its spare to be ready,
	// writes the spare's ready word back to 0 and dies; as the spare,
	// once promoted, it commits "primary <pid>" every millisecond.
	worker.Register("h-unready-spare", func(ctx context.Context, w *worker.Worker) error {
		if !w.Active() {
			w.Ready()
			if err := w.WaitActive(ctx); err != nil {
				return nil
			}
			commitAsPrimary(ctx, w)
			return nil
		}
		w.Ready()
		seg := hostileSegment()
		spareReady := hU32(seg, hLaneBase+hLaneSize+hLaneReady)
		for atomic.LoadUint32(spareReady) != 1 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // the supervisor sees it ready
		atomic.StoreUint32(spareReady, 0)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		return nil
	})
}

// TestHostileReadyWordReset: a worker the supervisor saw ready that writes
// its ready word back to 0 and exits 3 ended with its code, not as one
// that never became ready.
func TestHostileReadyWordReset(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-unready"})
	require.NoError(t, err)
	defer p.Kill()
	require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGUSR1))
	x := exitedEvent(t, p)
	assert.Equal(t, procbridge.ExitCode, x.Exit.Kind, "%v", x.Exit)
	assert.Equal(t, 3, x.Exit.Code)
	assert.Equal(t, "exited 3", x.Exit.String())
	assert.NotErrorIs(t, x.Err, procbridge.ErrExitedBeforeReady)
}

// TestHostileSpareReadyWord: a primary that writes its ready spare's ready
// word back to 0 and dies does not take the group down with a spare left
// running that nobody tracks: the spare the supervisor saw ready is
// promoted, is the group's primary, and its commits are the state.
func TestHostileSpareReadyWord(t *testing.T) {
	g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "h-unready-spare", StateSize: 64}, 1)
	require.NoError(t, err)
	defer g.Stop(context.Background())
	primary, spare := g.Primary(), g.Spares()[0]
	seg, _ := primary.Segment()
	p := nextGroupEvent[procbridge.Promoted](t, g)
	assert.Equal(t, primary.Pid(), p.From)
	assert.Equal(t, spare.Pid(), p.To)
	require.NotNil(t, g.Primary())
	assert.Equal(t, spare.Pid(), g.Primary().Pid(), "the group tracks the spare as its primary")
	awaitPrimaryCommit(t, seg, spare.Pid())
	assert.Equal(t, syscall.SIGKILL, exitedEventOf(t, primary).Signal)
	select {
	case <-g.Done():
		t.Fatal("the group went down")
	default:
	}
}

// TestHostileBeatTime: the time of the last beat is the worker's to write;
// a stamp in the future or from before it was ready is not a beat it made,
// and HeartbeatAge stays between 0 and the time since it was ready.
func TestHostileBeatTime(t *testing.T) {
	for _, when := range []string{"future", "past"} {
		t.Run(when, func(t *testing.T) {
			start := time.Now()
			p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-beat-time", Args: []string{when}})
			require.NoError(t, err)
			defer p.Kill()
			age := p.HeartbeatAge()
			assert.GreaterOrEqual(t, age, time.Duration(0))
			assert.LessOrEqual(t, age, time.Since(start))
		})
	}
}

//go:build linux

package procbridge_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

func init() {
	// counter counts and commits its count; a spare parks first and carries
	// on from the count the primary committed. It prints "active N" when it
	// becomes the primary, N being the count it resumes from.
	worker.Register("counter", func(ctx context.Context, w *worker.Worker) error {
		n, buf, ok := testproc.ResumeCount(ctx, w)
		if !ok {
			return nil
		}
		fmt.Println("active", n)
		for ctx.Err() == nil {
			n++
			binary.LittleEndian.PutUint64(buf, n)
			if err := w.Commit(buf); errors.Is(err, worker.ErrFenced) {
				fmt.Println("fenced")
				<-ctx.Done()
				return nil
			}
			w.Beat()
			time.Sleep(100 * time.Microsecond)
		}
		return nil
	})
}

func init() {
	// prompt-spare prints its thread's scheduling before it parks, right
	// after its promotion, and once it has it back: a promoted spare runs
	// raised for its first moments, then as the program had it.
	worker.Register("prompt-spare", func(ctx context.Context, w *worker.Worker) error {
		runtime.LockOSThread() // so that WaitActive parks this very thread
		w.Ready()
		before := testproc.Scheduling(0)
		if err := w.WaitActive(ctx); err != nil {
			return nil
		}
		fmt.Println("raised", testproc.Scheduling(0) != before)
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		for testproc.Scheduling(0) != before {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
		fmt.Println("restored")
		<-ctx.Done()
		return nil
	})
}

// TestPromotedSpareRunsPromptlyThenNot: the thread a spare parks on is
// raised (real-time, or a short slice), so that it runs the moment it is
// woken; once promoted, it gets its own scheduling back.
func TestPromotedSpareRunsPromptlyThenNot(t *testing.T) {
	if !testproc.CanRaise() {
		t.Skip("this kernel and these privileges raise no thread")
	}
	seg, err := procbridge.NewSegment("prompt", procbridge.SegmentConfig{Lanes: 2})
	require.NoError(t, err)
	t.Cleanup(func() { procbridge.CloseSegment(seg) })
	primary, err := procbridge.StartIn(ctxT(t), procbridge.Spec{Worker: "wait"}, seg, 0)
	require.NoError(t, err)
	spare, err := procbridge.StartIn(ctxT(t), procbridge.Spec{Worker: "prompt-spare", Stdout: procbridge.Lines}, seg, 1)
	require.NoError(t, err)
	// A spare raises its thread when it parks; one that finds the primary
	// dead before it ever parks has nothing to raise.
	waitFor(t, "the spare parked", func() bool { return procbridge.ParkLoops(seg, 1) > 0 })
	require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGKILL))
	exitedEvent(t, primary)
	assert.Equal(t, "raised true", nextLine(t, spare))
	assert.Equal(t, "restored", nextLine(t, spare))
	_, err = spare.Stop(ctxT(t))
	require.NoError(t, err)
}

// TestWatchersRunPromptly: the hang monitor and the death-notice waiters
// run on raised threads while they watch, and those threads end with them.
func TestWatchersRunPromptly(t *testing.T) {
	if !testproc.CanRaise() {
		t.Skip("this kernel and these privileges raise no thread")
	}
	baseline := raisedThreads()
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "beat", Heartbeat: fastBeat})
	require.NoError(t, err)
	waitFor(t, "the monitor and the death-notice waiter raised", func() bool { return raisedThreads() >= baseline+2 })
	_, err = p.Stop(ctxT(t))
	require.NoError(t, err)
	waitFor(t, "their threads gone", func() bool { return procbridge.MonitorIdle() && raisedThreads() <= baseline })
}

// TestMonitorThreadFollowsItsGoroutine: the hang monitor's goroutine is not
// locked to its thread. When it finds itself on another thread, it raises
// that one and gives the one it left its scheduling back, so that no
// thread it left behind stays raised.
func TestMonitorThreadFollowsItsGoroutine(t *testing.T) {
	if !testproc.CanRaise() {
		t.Skip("this kernel and these privileges raise no thread")
	}
	keep, release := procbridge.FollowingRaise()
	// on calls keep from a goroutine locked to a thread of its own, which
	// stays until stop is closed.
	on := func() (tid int, stop chan struct{}) {
		tids := make(chan int)
		stop = make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			keep()
			tids <- unix.Gettid()
			<-stop
		}()
		return <-tids, stop
	}
	a, stopA := on()
	defer close(stopA)
	assert.True(t, testproc.Scheduling(a).Raised(), "the thread it is on is raised")
	b, stopB := on()
	defer close(stopB)
	assert.True(t, testproc.Scheduling(b).Raised(), "the thread it moved to is raised")
	assert.False(t, testproc.Scheduling(a).Raised(), "the thread it left has its scheduling back")
	release()
	assert.False(t, testproc.Scheduling(b).Raised(), "released")
}

// raisedThreads counts this process's threads that promptThread raised.
func raisedThreads() int {
	tasks, _ := os.ReadDir("/proc/self/task")
	n := 0
	for _, task := range tasks {
		if tid, err := strconv.Atoi(task.Name()); err == nil && testproc.Scheduling(tid).Raised() {
			n++
		}
	}
	return n
}

func count(t *testing.T, seg *procbridge.Segment) uint64 { return laneCount(t, seg, -1) }

// laneCount reads the count committed in lane (-1: the latest of any lane).
func laneCount(t *testing.T, seg *procbridge.Segment, lane int) uint64 {
	t.Helper()
	buf := make([]byte, 8)
	var n int
	var err error
	if lane < 0 {
		n, _, err = seg.State(buf)
	} else {
		n, _, err = procbridge.LaneState(seg, lane, buf)
	}
	require.NoError(t, err)
	require.Equal(t, 8, n)
	return binary.LittleEndian.Uint64(buf)
}

// TestKernelWakesSpare: the primary is SIGKILLed and nobody calls Failover:
// the kernel's robust-futex wake alone promotes the parked spare, which
// resumes from the last committed count.
func TestKernelWakesSpare(t *testing.T) {
	seg, primary, spare := startPair(t)

	require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGKILL))
	exitedEvent(t, primary)
	committed := laneCount(t, seg, 0)
	line := <-spare.Lines()
	assert.Equal(t, fmt.Sprint("active ", committed), line.Text, "resumes from the last commit")
	epoch, lane := seg.Control()
	assert.Equal(t, uint64(1), epoch)
	assert.Equal(t, 1, lane)
	_, err := spare.Stop(ctxT(t))
	require.NoError(t, err)
	assert.Greater(t, count(t, seg), committed, "the spare went on counting")
}

// TestFencedPrimaryCannotChangeState: a primary that is only hung (SIGSTOP)
// is fenced by a failover; when it wakes up, its commits are refused.
func TestFencedPrimaryCannotChangeState(t *testing.T) {
	seg, primary, spare := startPair(t)

	require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGSTOP))
	epoch, lane, err := hooks.Promote(seg, 0, 1)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), epoch)
	assert.Equal(t, 1, lane)
	require.Contains(t, (<-spare.Lines()).Text, "active ")
	_, err = spare.Stop(ctxT(t))
	require.NoError(t, err)
	final := count(t, seg)

	require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGCONT))
	assert.Equal(t, "fenced", (<-primary.Lines()).Text)
	assert.Equal(t, final, count(t, seg), "the fenced primary changed nothing")
	_, err = primary.Stop(ctxT(t))
	require.NoError(t, err)
}

// TestSpuriousWakeDoesNotPromote: a spare woken on its robust word while
// the primary lives looks, sees no owner-died mark, and parks again.
func TestSpuriousWakeDoesNotPromote(t *testing.T) {
	seg, primary, spare := startPair(t)

	// Wait until the spare sleeps on the word, then wake it for nothing.
	var before uint32
	deadlineAt := time.Now().Add(deadline)
	for {
		var woken int
		before, woken = procbridge.SpuriousWake(seg, 1)
		if woken == 1 {
			break
		}
		require.True(t, time.Now().Before(deadlineAt), "the spare never parked on the robust word")
		runtime.Gosched()
	}
	for procbridge.ParkLoops(seg, 1) == before {
		require.True(t, time.Now().Before(deadlineAt), "the spare did not wake")
		runtime.Gosched()
	}
	epoch, lane := seg.Control()
	assert.Equal(t, uint64(0), epoch, "no promotion")
	assert.Equal(t, 0, lane)
	_, err := spare.Stop(ctxT(t))
	require.NoError(t, err)
	_, err = primary.Stop(ctxT(t))
	require.NoError(t, err)
}

// startPair starts a "counter" primary in lane 0 and its spare in lane 1 of
// a new segment, and waits for the primary to count.
func startPair(t *testing.T) (seg *procbridge.Segment, primary, spare *procbridge.Process) {
	t.Helper()
	seg, err := procbridge.NewSegment("counter", procbridge.SegmentConfig{Lanes: 2, StateSize: 8})
	require.NoError(t, err)
	t.Cleanup(func() { procbridge.CloseSegment(seg) })
	primary, err = procbridge.StartIn(ctxT(t), procbridge.Spec{Worker: "counter", Stdout: procbridge.Lines}, seg, 0)
	require.NoError(t, err)
	spare, err = procbridge.StartIn(ctxT(t), procbridge.Spec{Worker: "counter", Stdout: procbridge.Lines}, seg, 1)
	require.NoError(t, err)
	require.Equal(t, "active 0", (<-primary.Lines()).Text)
	return seg, primary, spare
}

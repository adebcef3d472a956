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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

func init() {
	// beating-counter is counter with a heartbeat, and it can be told to
	// hang (command "hang") or to die (command "die").
	worker.Register("beating-counter", func(ctx context.Context, w *worker.Worker) error {
		n, state, ok := testproc.ResumeCount(ctx, w)
		if !ok {
			return nil
		}
		cmds := make(chan string, 1)
		go func() {
			buf := make([]byte, 64)
			for {
				m, err := w.Recv(ctx, buf)
				if err != nil {
					return
				}
				cmds <- string(buf[:m])
			}
		}()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case c := <-cmds:
				switch c {
				case "hang":
					select {}
				case "die":
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				default:
					w.Reply([]byte("echo " + c + " " + strconv.FormatUint(n, 10)))
				}
			case <-tick.C:
			}
			n++
			binary.LittleEndian.PutUint64(state, n)
			if err := w.Commit(state); errors.Is(err, worker.ErrFenced) {
				<-ctx.Done()
				return nil
			}
			w.Beat()
		}
	})
}

var groupBeat = procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: 50 * time.Millisecond}

func startGroup(t *testing.T, spares int) *procbridge.Group {
	t.Helper()
	g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "beating-counter", StateSize: 8, RingSize: 4096, Heartbeat: groupBeat}, spares)
	require.NoError(t, err)
	t.Cleanup(func() { g.Stop(context.Background()) })
	return g
}

// nextGroupEvent returns the next event of g of type T, skipping others.
func nextGroupEvent[T procbridge.Event](t *testing.T, g *procbridge.Group) T {
	t.Helper()
	timeout := time.After(deadline)
	var skipped []procbridge.Event
	for {
		select {
		case e, ok := <-g.Events():
			require.True(t, ok, "group events closed after %s", describeEvents(skipped))
			if x, ok := e.(T); ok {
				return x
			}
			skipped = append(skipped, e)
		case <-timeout:
			var zero T
			t.Fatalf("no %T after %v", zero, deadline)
			return zero
		}
	}
}

// groupSegment returns the segment g's processes share.
func groupSegment(g *procbridge.Group) *procbridge.Segment {
	seg, _ := g.Primary().Segment()
	return seg
}

// awaitCount waits until the committed count passes n.
func awaitCount(t *testing.T, g *procbridge.Group, n uint64) uint64 {
	t.Helper()
	seg, _ := g.Primary().Segment()
	for {
		// Ask the primary for its count over the command ring.
		require.NoError(t, seg.Send([]byte("count")))
		buf := make([]byte, 64)
		m, err := seg.Recv(buf, deadline)
		require.NoError(t, err)
		var got uint64
		fmt.Sscanf(string(buf[:m]), "echo count %d", &got)
		if got > n {
			return got
		}
	}
}

func TestGroupPromotesAfterSIGKILL(t *testing.T) {
	g := startGroup(t, 1)
	primary := g.Primary()
	spare := g.Spares()[0]
	awaitCount(t, g, 10)
	require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGKILL))
	p := nextGroupEvent[procbridge.Promoted](t, g)
	assert.Equal(t, primary.Pid(), p.From)
	assert.Equal(t, spare.Pid(), p.To)
	assert.IsType(t, procbridge.Dying{}, p.Cause, "the robust futex told first")
	assert.Equal(t, uint64(1), p.Epoch)
	assert.Equal(t, p.To, g.Primary().Pid(), "Primary agrees with the event read")
	for _, s := range g.Spares() {
		assert.NotEqual(t, p.To, s.Pid(), "the new primary is no spare")
	}
	awaitCount(t, g, 20) // the new primary counts on
	r := nextGroupEvent[procbridge.SpareReady](t, g)
	assert.Equal(t, 0, r.Lane, "a replacement spare took the freed lane")
}

func TestGroupPromotesAfterHang(t *testing.T) {
	g := startGroup(t, 1)
	primary := g.Primary()
	awaitCount(t, g, 5)
	require.NoError(t, groupSegment(g).Send([]byte("hang")))
	p := nextGroupEvent[procbridge.Promoted](t, g)
	assert.Equal(t, primary.Pid(), p.From)
	assert.IsType(t, procbridge.Hung{}, p.Cause)
	e := exitedEventOf(t, primary)
	assert.Equal(t, procbridge.ExitKilledHung, e.Kind, "the hung primary is killed")
	awaitCount(t, g, 10)
}

// TestGroupCatchesHangAfterPromotion: a spare parks with its watchdog
// disarmed, for longer than the timeout; once promoted, its clock starts,
// and a hang of the new primary is caught like the first one's.
func TestGroupCatchesHangAfterPromotion(t *testing.T) {
	g := startGroup(t, 1)
	first := g.Primary()
	awaitCount(t, g, 100) // 100 ms at 1 ms a count: the spare parked past the 50 ms timeout
	require.NoError(t, syscall.Kill(first.Pid(), syscall.SIGKILL))
	p := nextGroupEvent[procbridge.Promoted](t, g)
	second := g.Primary()
	require.Equal(t, p.To, second.Pid())
	nextGroupEvent[procbridge.SpareReady](t, g)
	awaitCount(t, g, 200) // beating as the primary: no false hang
	require.NoError(t, groupSegment(g).Send([]byte("hang")))
	p = nextGroupEvent[procbridge.Promoted](t, g)
	assert.Equal(t, second.Pid(), p.From)
	assert.IsType(t, procbridge.Hung{}, p.Cause)
	awaitCount(t, g, 210)
}

func TestGroupReplacesDeadSpare(t *testing.T) {
	g := startGroup(t, 1)
	spare := g.Spares()[0]
	require.NoError(t, syscall.Kill(spare.Pid(), syscall.SIGKILL))
	lost := nextGroupEvent[procbridge.SpareDown](t, g)
	assert.Equal(t, spare.Pid(), lost.Pid)
	assert.Equal(t, 1, lost.Lane)
	require.NotNil(t, lost.Exit, "a spare lost, not one that failed to start")
	ready := nextGroupEvent[procbridge.SpareReady](t, g)
	assert.Equal(t, 1, ready.Lane)
	// The replacement takes over when the primary dies.
	require.NoError(t, syscall.Kill(g.Primary().Pid(), syscall.SIGKILL))
	p := nextGroupEvent[procbridge.Promoted](t, g)
	assert.Equal(t, ready.Pid, p.To)
}

func TestGroupDownWhenPrimaryAndSpareDie(t *testing.T) {
	g := startGroup(t, 1)
	primary, spare := g.Primary(), g.Spares()[0]
	require.NoError(t, syscall.Kill(spare.Pid(), syscall.SIGKILL))
	require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGKILL))
	var last procbridge.Event
	for e := range g.Events() {
		last = e
	}
	down, ok := last.(procbridge.Exited)
	require.True(t, ok, "the group ends with its primary's Exited, got %#v", last)
	assert.Contains(t, []int{primary.Pid(), spare.Pid()}, down.Pid)
	select {
	case <-g.Done():
	case <-time.After(deadline):
		t.Fatal("the group did not finish")
	}
	for _, p := range []*procbridge.Process{primary, spare} {
		exitedEventOf(t, p)
	}
}

// describeEvents names each event, with an end's error.
func describeEvents(es []procbridge.Event) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "[%v", e)
		if x, ok := e.(procbridge.Exited); ok && x.Err != nil {
			fmt.Fprintf(&b, ": %v", x.Err)
		}
		b.WriteString("] ")
	}
	return b.String()
}

// exitedEventOf waits for p's end (its events go to the group).
func exitedEventOf(t *testing.T, p *procbridge.Process) procbridge.Exit {
	t.Helper()
	select {
	case <-procbridge.Ended(p):
	case <-time.After(deadline):
		t.Fatalf("%d did not end", p.Pid())
	}
	e, _ := procbridge.ExitOf(p)
	return e
}

// TestGroupNoLeakOver1000Failovers fails over a thousand times.
func TestGroupNoLeakOver1000Failovers(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 50
	}
	// Two spares: a primary called hung meanwhile is failed over like a
	// kill, instead of taking the group down while its replacement starts.
	// On a loaded machine a promoted worker's 1 ms ticker can fire late by
	// more than its 50 ms timeout: the runtime thread that runs its timers,
	// back from its poll, waits for a CPU like any other (up to 420 ms,
	// seen beside two busy loops on 2 CPUs), and the monitor may judge it
	// hung all the same (asleep, or held up past its cap).
	g := startGroup(t, 2)
	// Warm up once: the first failover opens what stays open.
	failoverOnce := func() {
		require.NoError(t, syscall.Kill(g.Primary().Pid(), syscall.SIGKILL))
		nextGroupEvent[procbridge.Promoted](t, g)
		nextGroupEvent[procbridge.SpareReady](t, g)
	}
	failoverOnce()
	// The monitor's CPU probers (one a CPU, for as long as it watches)
	// start with its first watch of a suspect, perhaps only during the
	// failovers: started now, they are counted from the start.
	procbridge.StartCPUProbersForTest(time.Now().Add(deadline))
	fds, goroutines := openFds(t), runtime.NumGoroutine()
	for range n {
		failoverOnce()
	}
	awaitCount(t, g, 0)
	assert.Equal(t, fds, openFds(t), "descriptors after %d failovers", n)
	assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines+2, "goroutines after %d failovers", n)
}

func TestGroupSwitch(t *testing.T) {
	g := startGroup(t, 1)
	primary := g.Primary()
	before := awaitCount(t, g, 5)
	require.NoError(t, g.Switch(ctxT(t)))
	p := nextGroupEvent[procbridge.Promoted](t, g)
	assert.Nil(t, p.Cause, "a requested switch")
	assert.Equal(t, primary.Pid(), p.From)
	assert.Equal(t, procbridge.ExitStopped, exitedEventOf(t, primary).Kind)
	assert.Greater(t, awaitCount(t, g, before), before, "the count goes on from where it was")
	// No spare until the replacement is ready.
	nextGroupEvent[procbridge.SpareReady](t, g)
	require.NoError(t, g.Switch(ctxT(t)))
	require.NoError(t, g.Stop(ctxT(t)))
	assert.ErrorIs(t, g.Switch(ctxT(t)), procbridge.ErrGroupDown)
}

func init() {
	// fragile-spare runs as a primary like beating-counter, but as a spare
	// it dies: at once after Ready, or, when args[0] names a file, before
	// Ready from its args[1]-th start on (the file counts the starts).
	worker.Register("fragile-spare", func(ctx context.Context, w *worker.Worker) error {
		if w.Active() { // the primary
			w.Ready()
			if err := w.WaitActive(ctx); err != nil {
				return nil
			}
			<-ctx.Done()
			return nil
		}
		if args := os.Args[1:]; len(args) == 2 {
			n, err := testproc.CountStart(args[0])
			if err != nil {
				return err
			}
			if from, _ := strconv.Atoi(args[1]); n >= from {
				os.Exit(3) // before Ready: the start fails
			}
			w.Ready()
			return w.WaitActive(ctx)
		}
		w.Ready()
		os.Exit(3)
		return nil
	})
}

// TestGroupSpareCrashLoopBacksOff: a spare that dies as soon as it is ready
// is replaced after a wait that doubles each time.
func TestGroupSpareCrashLoopBacksOff(t *testing.T) {
	g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "fragile-spare"}, 1)
	require.NoError(t, err)
	defer g.Stop(context.Background())
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
	for _, w := range want {
		lost := nextGroupEvent[procbridge.SpareDown](t, g)
		require.NotNil(t, lost.Exit)
		assert.Equal(t, 3, lost.Exit.Code)
		assert.Equal(t, w, lost.Retry)
	}
	require.NoError(t, g.Stop(ctxT(t)))
}

// TestGroupSpareStartFailureRetries: a replacement spare that cannot start
// is tried again, backing off, and the group stops cleanly meanwhile.
func TestGroupSpareStartFailureRetries(t *testing.T) {
	count := t.TempDir() + "/starts"
	g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "fragile-spare", Args: []string{count, "2"}}, 1)
	require.NoError(t, err)
	defer g.Stop(context.Background())
	spare := g.Spares()[0]
	require.NoError(t, syscall.Kill(spare.Pid(), syscall.SIGKILL))
	lost := nextGroupEvent[procbridge.SpareDown](t, g)
	assert.Equal(t, spare.Pid(), lost.Pid)
	require.NotNil(t, lost.Exit, "a spare lost")
	assert.Equal(t, 10*time.Millisecond, lost.Retry, "it died within a second of its Ready")
	for _, w := range []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond} {
		f := nextGroupEvent[procbridge.SpareDown](t, g)
		assert.Nil(t, f.Exit, "a replacement that failed to start")
		assert.Zero(t, f.Pid)
		assert.ErrorIs(t, f.Err, procbridge.ErrExitedBeforeReady)
		assert.Equal(t, w, f.Retry)
		assert.Equal(t, 1, f.Lane)
	}
	require.NoError(t, g.Stop(ctxT(t)))
}

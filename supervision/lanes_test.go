//go:build linux

package supervision_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
	"github.com/understudy/understudy/supervision"
	"github.com/understudy/understudy/supervision/supervisiontest"
)

func init() {
	// gate is not ready while the file of its first argument exists (a
	// start that takes as long as the test wants), then runs as wait.
	worker.Register("gate", func(ctx context.Context, w *worker.Worker) error {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := os.Stat(os.Args[1]); err != nil {
				break
			}
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
		w.Ready()
		<-ctx.Done()
		return nil
	})
}

// gated is a child that runs "gate" on path: slow to be ready while path
// exists.
func gated(name, path string) supervision.ChildSpec {
	return supervision.ChildSpec{
		Name:    name,
		Process: &procbridge.Spec{Worker: "gate", Args: []string{path}, ReadyTimeout: deadline},
	}
}

// killAll SIGKILLs every running child of s at once and returns their
// incarnations.
func killAll(t *testing.T, s *supervision.Supervisor) map[string]int {
	t.Helper()
	cs, err := s.Children(ctxT(t))
	require.NoError(t, err)
	inc := map[string]int{}
	for _, c := range cs {
		require.NotZero(t, c.Pid, "%s is not running", c.Name)
		// Gone already is killed: a supervisor that gave up midway
		// through the kills stops the children not yet killed.
		if err := syscall.Kill(c.Pid, syscall.SIGKILL); err != syscall.ESRCH {
			require.NoError(t, err)
		}
		inc[c.Name] = c.Incarnation
	}
	return inc
}

// readyAfter waits until each child of was is ready in a later
// incarnation than was says, except those in but; it fails if one of but
// is ready first.
func readyAfter(t *testing.T, rec *recorder, was map[string]int, but ...string) {
	t.Helper()
	left := map[string]bool{}
	for name := range was {
		left[name] = true
	}
	for _, name := range but {
		delete(left, name)
	}
	for len(left) > 0 {
		ev := rec.wait(t, fmt.Sprintf("%d children ready again", len(left)), func(ev supervision.Event) bool {
			e, ok := ev.(supervision.ChildReady)
			return ok && e.Incarnation > was[e.Child]
		})
		name := ev.EventHeader().Child
		for _, b := range but {
			require.NotEqual(t, b, name, "%s, slow to be ready, was ready before %d others", b, len(left))
		}
		delete(left, name)
	}
}

// TestLanesSlowChildHoldsUpNoOther: 64 one_for_one children killed
// together, one of them slow to be ready again: the other 63 are ready
// before it, both for first failures (restarted at once) and for second
// ones (restarted after their backoff, on the fake clock).
func TestLanesSlowChildHoldsUpNoOther(t *testing.T) {
	const n = 64
	dir := t.TempDir()
	gate, never := filepath.Join(dir, "gate"), filepath.Join(dir, "never")
	spec := supervision.Spec{Intensity: in(1<<20, time.Hour)}
	for i := range n {
		path := never
		if i == 0 {
			path = gate // first in start order, and first killed
		}
		spec.Children = append(spec.Children, gated(fmt.Sprintf("c%02d", i), path))
	}
	clock := supervisiontest.NewFakeClock(time.Unix(1_000_000, 0))
	tree, rec := start(t, spec, supervision.Options{Clock: clock})
	root := tree.Supervisor()
	open := func() { require.NoError(t, os.WriteFile(gate, nil, 0o600)) }

	// Storm 1: first failures, restarted at once.
	open()
	was := killAll(t, root)
	readyAfter(t, rec, was, "c00")
	assert.Equal(t, supervision.StateStarting, childInfo(t, root, "c00").State)
	require.NoError(t, os.Remove(gate))
	readyAfter(t, rec, map[string]int{"c00": was["c00"]})

	// Storm 2: second failures of children never up on the fake clock,
	// each restarted after its backoff.
	open()
	was = killAll(t, root)
	for range n {
		rec.wait(t, "a restart after a backoff", isBackoff(""))
	}
	require.NoError(t, clock.WaitForTimers(ctxT(t), n))
	clock.Advance(time.Second)
	readyAfter(t, rec, was, "c00")
	assert.Equal(t, supervision.StateStarting, childInfo(t, root, "c00").State)
	require.NoError(t, os.Remove(gate))
	readyAfter(t, rec, map[string]int{"c00": was["c00"]})
	up(t, tree)
}

// TestLanesIntensityExceededMidStorm: 64 one_for_one children killed
// together under an intensity of 8: one GaveUp, no more than the 8
// restarts the intensity allows, and nothing left running.
func TestLanesIntensityExceededMidStorm(t *testing.T) {
	const n, maxR = 64, 8
	never := filepath.Join(t.TempDir(), "never")
	spec := supervision.Spec{Intensity: in(maxR, time.Hour)}
	for i := range n {
		c := gated(fmt.Sprintf("c%02d", i), never)
		c.Backoff = otp
		spec.Children = append(spec.Children, c)
	}
	tree, rec := start(t, spec, supervision.Options{})
	killAll(t, tree.Supervisor())
	gaveUp(t, tree)

	gave, restarting, restarted := 0, 0, 0
	var pids []int
	for _, ev := range rec.events() {
		switch e := ev.(type) {
		case supervision.GaveUp:
			gave++
		case supervision.ChildRestarting:
			restarting++
		case supervision.ChildStarted:
			if e.Incarnation > 1 {
				restarted++
			}
		case supervision.ChildReady:
			if e.Ready != nil {
				pids = append(pids, e.Ready.Pid)
			}
		}
	}
	assert.Equal(t, 1, gave, "GaveUp events")
	assert.LessOrEqual(t, restarting, maxR, "restarts reported")
	assert.LessOrEqual(t, restarted, maxR, "restarts started")
	for _, pid := range pids {
		waitGone(t, pid)
	}
}

// TestLanesSimplePoolStartsTogether: StartSimpleChild requests are
// answered as each child is ready, not in turn: 16 requests made while a
// child slow to be ready is starting are all answered before it. A child
// terminated while it starts is removed, and its request fails.
func TestLanesSimplePoolStartsTogether(t *testing.T) {
	const n = 16
	dir := t.TempDir()
	gate, never := filepath.Join(dir, "gate"), filepath.Join(dir, "never")
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	spec := supervision.Spec{
		Strategy:  supervision.SimpleOneForOne,
		Intensity: in(1<<20, time.Hour),
		Children:  []supervision.ChildSpec{{Name: "w", Process: &procbridge.Spec{Worker: "gate", ReadyTimeout: deadline}}},
	}
	tree, rec := start(t, spec, supervision.Options{})
	root := tree.Supervisor()

	slow := make(chan error, 1)
	go func() {
		_, err := root.StartSimpleChild(ctxT(t), gate)
		slow <- err
	}()
	next[supervision.ChildStarted](t, rec, "", "w-1")

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = root.StartSimpleChild(ctxT(t), never) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "request %d", i)
	}
	select {
	case err := <-slow:
		t.Fatalf("the slow child's request was answered first: %v", err)
	default:
	}
	assert.Equal(t, supervision.StateStarting, childInfo(t, root, "w-1").State)

	require.NoError(t, root.TerminateChild(ctxT(t), "w-1"))
	select {
	case err := <-slow:
		assert.ErrorIs(t, err, supervision.ErrStartFailed)
	case <-time.After(deadline):
		t.Fatal("the slow child's request was never answered")
	}
	_, err := childOf(ctxT(t), root, "w-1")
	assert.ErrorIs(t, err, supervision.ErrNoChild)
	assert.Equal(t, supervision.Counts{Specs: 1, Active: n, Workers: n}, counts(t, root))
}

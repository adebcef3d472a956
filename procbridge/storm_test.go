//go:build linux

package procbridge_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/procbridge"
)

// stormBeat is the restart storm's heartbeat: a beat every 10 ms, hung
// after 100 ms of silence.
var stormBeat = procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 100 * time.Millisecond}

// stormWorker is one worker of a storm, its events read as they come.
type stormWorker struct {
	p      *procbridge.Process
	ready  chan time.Time // when it became ready (buffered)
	exited chan procbridge.Exited
	hung   atomic.Int32
}

// stormStart starts a beating worker and reads its events until it ends:
// Hung events are counted (and logged), the others ignored.
func stormStart(ctx context.Context, log func(string, ...any)) (*stormWorker, error) {
	p, err := procbridge.Start(ctx, procbridge.Spec{Worker: "beat", Heartbeat: stormBeat, ReadyTimeout: deadline})
	if err != nil {
		return nil, err
	}
	w := &stormWorker{p: p, ready: make(chan time.Time, 1), exited: make(chan procbridge.Exited, 1)}
	go func() {
		for e := range p.Events() {
			switch e := e.(type) {
			case procbridge.Ready:
				w.ready <- time.Now()
			case procbridge.Hung:
				w.hung.Add(1)
				log("pid %d: %v", e.Pid, e.Err)
			case procbridge.Exited:
				w.exited <- e
			}
		}
	}()
	return w, nil
}

// storm is a restart storm: n beating workers, SIGKILLed together, each
// started again as soon as its end is reported, as a one_for_one
// supervisor whose restarts are concurrent would.
type storm struct {
	ctx      context.Context
	log      func(string, ...any)
	workers  []*stormWorker
	old      []*stormWorker // the killed incarnations
	restarts []time.Duration
}

// start starts n workers and waits for every one to be ready.
func (s *storm) start(n int) error {
	s.workers = make([]*stormWorker, n)
	var g errGroup
	for i := range n {
		g.Go(func() error {
			w, err := stormStart(s.ctx, s.log)
			if err != nil {
				return err
			}
			s.workers[i] = w
			return w.waitReady()
		})
	}
	return g.Wait()
}

func (w *stormWorker) waitReady() error {
	select {
	case at := <-w.ready:
		w.ready <- at
		return nil
	case e := <-w.exited:
		w.exited <- e
		return e.Err
	case <-time.After(deadline):
		return context.DeadlineExceeded
	}
}

// kill SIGKILLs every worker at once and starts each again when its end
// is reported; it returns when all are ready, with each one's time from
// the SIGKILL to ready.
func (s *storm) kill() error {
	for _, w := range s.workers {
		unix.Kill(w.p.Pid(), unix.SIGKILL)
	}
	killed := time.Now()
	s.old = append(s.old, s.workers...)
	s.restarts = make([]time.Duration, len(s.workers))
	var g errGroup
	for i, w := range s.workers {
		g.Go(func() error {
			select {
			case e := <-w.exited:
				w.exited <- e
			case <-time.After(deadline):
				return context.DeadlineExceeded
			}
			nw, err := stormStart(s.ctx, s.log)
			if err != nil {
				return err
			}
			s.workers[i] = nw
			if err := nw.waitReady(); err != nil {
				return err
			}
			at := <-nw.ready
			nw.ready <- at
			s.restarts[i] = at.Sub(killed)
			return nil
		})
	}
	return g.Wait()
}

// falseHangs counts the hung verdicts on the storm's workers, old and new,
// and the old ones whose end was reported as a hang.
func (s *storm) falseHangs() int {
	n := 0
	for _, w := range append(slices.Clone(s.old), s.workers...) {
		n += int(w.hung.Load())
	}
	return n
}

// stop kills every worker and waits for each to be gone.
func (s *storm) stop() {
	for _, w := range s.workers {
		if w != nil {
			w.p.Kill()
		}
	}
	for _, w := range s.workers {
		if w != nil {
			<-w.p.Done()
		}
	}
}

// errGroup runs functions and returns the first error of any.
type errGroup struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func (g *errGroup) Go(f func() error) {
	g.wg.Go(func() {
		if err := f(); err != nil {
			g.once.Do(func() { g.err = err })
		}
	})
}

func (g *errGroup) Wait() error { g.wg.Wait(); return g.err }

// TestNoFalseHangInRestartStorm: 64 workers beating every 10 ms with a
// 100 ms timeout are SIGKILLed together, three times, and each is started
// again as soon as its end is reported. No worker, killed or restarted, is
// called hung: the killed ones are dying, not hung, and the restarted ones
// are young, on a machine the storm saturates. Then a real hang, a
// restarted worker stopped by SIGSTOP, is still called hung.
func TestNoFalseHangInRestartStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("a storm of 64 processes")
	}
	// The first start and each of the three storms gets the test
	// deadline: a loaded machine took 23 s to bring 64 workers back.
	ctx, cancel := context.WithTimeout(context.Background(), 4*deadline)
	defer cancel()
	s := &storm{ctx: ctx, log: t.Logf}
	defer s.stop()
	require.NoError(t, s.start(64))
	for round := range 3 {
		require.NoError(t, s.kill(), "round %d", round)
		slices.Sort(s.restarts)
		t.Logf("round %d: all 64 back in %v (p50 %v)", round, s.restarts[len(s.restarts)-1], s.restarts[len(s.restarts)/2])
	}
	// Watch a second of beating after the last storm, in which a false
	// verdict would come (the deadlines are 100 ms, 200 ms for a worker
	// not yet seen to beat).
	<-time.After(time.Second)
	assert.Zero(t, s.falseHangs(), "hung verdicts on healthy or killed workers")
	for _, w := range s.old {
		e := <-w.exited
		w.exited <- e
		assert.NotEqual(t, procbridge.ExitKilledHung, e.Exit.Kind, "a killed worker's end reported as a hang: %v", e.Exit)
	}

	// A real hang after the storm: stopped, it is called hung.
	w := s.workers[0]
	require.NoError(t, unix.Kill(w.p.Pid(), unix.SIGSTOP))
	select {
	case e := <-w.exited:
		w.exited <- e
		assert.Equal(t, procbridge.ExitKilledHung, e.Exit.Kind, "%v", e.Exit)
		assert.EqualValues(t, 1, w.hung.Load())
	case <-time.After(deadline):
		t.Fatal("a stopped worker was not called hung")
	}
}

//go:build linux

package procbridge_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/internal/shm"
	"github.com/understudy/understudy/procbridge/worker"
)

// disarm clears the worker's robust words, as the SDK does before a clean
// exit, and wakes their waiters.
func disarm(w *worker.Worker) error {
	seg, _, err := shm.Open(shm.FdSegment)
	if err != nil {
		return err
	}
	lane := seg.Lane(w.Lane())
	for i := range shm.RobustWords {
		atomic.StoreUint32(lane.RobustWord(i), 0)
		linux.FutexWake(lane.RobustWord(i), 1<<30)
	}
	return nil
}

// heap keeps the big allocation of the "big-heap" helper alive.
var heap []byte

func init() {
	// big-heap touches Args[0] MB of heap, then marks and SIGKILLs itself.
	worker.Register("big-heap", func(ctx context.Context, w *worker.Worker) error {
		mb, _ := strconv.Atoi(os.Args[1])
		heap = make([]byte, mb<<20)
		for i := 0; i < len(heap); i += 4096 {
			heap[i] = 1
		}
		w.Ready()
		hooks.Mark(mono.Now())
		return testproc.DieBy(syscall.SIGKILL)
	})
	// disarm-then-crash disarms its death notice, then dies by SIGKILL.
	worker.Register("disarm-then-crash", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		if err := disarm(w); err != nil {
			return err
		}
		return testproc.DieBy(syscall.SIGKILL)
	})
	// forge writes a fake death notice into its robust word and wakes the
	// bridge, then waits to be stopped.
	worker.Register("forge", func(ctx context.Context, w *worker.Worker) error {
		seg, _, err := shm.Open(shm.FdSegment)
		if err != nil {
			return err
		}
		lane := seg.Lane(w.Lane())
		w.Ready()
		word := lane.RobustWord(0)
		tid := uint32(lane.RobustTid())
		for atomic.LoadUint32(word)&shm.FutexWaiters == 0 {
			// wait for the bridge to park on the word
			linux.FutexWait(word, tid, 1e6)
		}
		atomic.StoreUint32(word, tid|shm.FutexOwnerDied|shm.FutexWaiters)
		linux.FutexWake(word, 1)
		fmt.Println("forged")
		<-ctx.Done()
		return nil
	})
}

// TestDyingBeforeExited: for a crash, the robust futex tells first, whatever
// the heap; Exited follows.
func TestDyingBeforeExited(t *testing.T) {
	t.Run("per-process-waiter", func(t *testing.T) {
		// As on a kernel without futex_waitv: a waiter thread per worker.
		procbridge.SetPerProcessDyingForTest(true)
		defer procbridge.SetPerProcessDyingForTest(false)
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "big-heap", Args: []string{"0"}})
		require.NoError(t, err)
		_, isReady := nextEvent(t, p).(procbridge.Ready)
		require.True(t, isReady)
		_, ok := nextEvent(t, p).(procbridge.Dying)
		require.True(t, ok, "Dying first")
		_, ok = nextEvent(t, p).(procbridge.Exited)
		require.True(t, ok, "then Exited")
	})
	for _, mb := range []int{0, 256} {
		t.Run(fmt.Sprintf("%dMB", mb), func(t *testing.T) {
			// Touching 256 MB, a page fault a page (and the race
			// detector's shadow of it), takes a loaded machine more than
			// the default ten seconds.
			p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "big-heap", Args: []string{strconv.Itoa(mb)}, ReadyTimeout: deadline})
			require.NoError(t, err)
			_, isReady := nextEvent(t, p).(procbridge.Ready)
			require.True(t, isReady)
			d, ok := nextEvent(t, p).(procbridge.Dying)
			require.True(t, ok, "Dying first")
			e, ok := nextEvent(t, p).(procbridge.Exited)
			require.True(t, ok, "then Exited")
			assert.Equal(t, syscall.SIGKILL, e.Exit.Signal)
			if mb > 0 {
				assert.Less(t, mono.Of(d.Time), mono.Of(e.Exit.Time), "with a heap to tear down, the robust futex tells first")
			}
			assert.GreaterOrEqual(t, mono.Of(d.Time), procbridge.MarkOf(p))
			t.Logf("%d MB: dying after %.3f ms, exited after %.3f ms", mb, float64(mono.Of(d.Time)-procbridge.MarkOf(p))/1e6, float64(mono.Of(e.Exit.Time)-procbridge.MarkOf(p))/1e6)
		})
	}
}

// eventsOf collects every event of p until its stream closes.
func eventsOf(t *testing.T, p *procbridge.Process) []procbridge.Event {
	t.Helper()
	var all []procbridge.Event
	for {
		e := nextEvent(t, p)
		all = append(all, e)
		if _, ok := e.(procbridge.Exited); ok {
			return all
		}
	}
}

func hasDying(es []procbridge.Event) bool {
	for _, e := range es {
		if _, ok := e.(procbridge.Dying); ok {
			return true
		}
	}
	return false
}

func TestNoDying(t *testing.T) {
	t.Run("clean exit", func(t *testing.T) {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "hello"})
		require.NoError(t, err)
		es := eventsOf(t, p)
		assert.False(t, hasDying(es), "%v", es)
		assert.Equal(t, procbridge.ExitClean, es[len(es)-1].(procbridge.Exited).Exit.Kind)
	})
	t.Run("graceful stop", func(t *testing.T) {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "wait"})
		require.NoError(t, err)
		_, err = p.Stop(ctxT(t))
		require.NoError(t, err)
		assert.False(t, hasDying(eventsOf(t, p)))
	})
	// Disarmed, then crashed: the pidfd still catches it (the eBPF watch
	// too, where it loads: off here).
	procbridge.SetKernelWatchForTest(false)
	defer procbridge.SetKernelWatchForTest(true)
	t.Run("disarm then crash", func(t *testing.T) {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "disarm-then-crash"})
		require.NoError(t, err)
		es := eventsOf(t, p)
		assert.False(t, hasDying(es))
		assert.Equal(t, syscall.SIGKILL, es[len(es)-1].(procbridge.Exited).Exit.Signal)
	})
	// No robust thread at all: the pidfd alone catches the crash.
	t.Run("robust thread gone", func(t *testing.T) {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "sigkill", Env: append(os.Environ(), "UNDERSTUDY_TEST_NO_ROBUST=1")})
		require.NoError(t, err)
		es := eventsOf(t, p)
		assert.False(t, hasDying(es))
		assert.Equal(t, syscall.SIGKILL, es[len(es)-1].(procbridge.Exited).Exit.Signal)
	})
	// A worker that forges the notice is not believed: it broke the
	// protocol, and is killed for it (unless the stop came first).
	t.Run("forged notice", func(t *testing.T) {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "forge", Stdout: procbridge.Lines})
		require.NoError(t, err)
		require.Equal(t, "forged", (<-p.Lines()).Text)
		_, err = p.Stop(ctxT(t))
		require.NoError(t, err)
		es := eventsOf(t, p)
		assert.False(t, hasDying(es), "%v", es)
		assert.Contains(t, []procbridge.ExitKind{procbridge.ExitStopped, procbridge.ExitKilledViolation}, es[len(es)-1].(procbridge.Exited).Exit.Kind)
	})
}

func init() {
	// libc-threads reports whether glibc is in the process (a cgo binary,
	// as every -race test binary is) and how many of its threads carry a
	// robust list, then dies by SIGKILL.
	worker.Register("libc-threads", func(ctx context.Context, w *worker.Worker) error {
		maps, _ := os.ReadFile("/proc/self/maps")
		cgo := strings.Contains(string(maps), "libc.so")
		tasks, _ := os.ReadDir("/proc/self/task")
		withList := 0
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			var head, size uintptr
			_, _, e := syscall.Syscall(syscall.SYS_GET_ROBUST_LIST, uintptr(tid), uintptr(unsafePointer(&head)), uintptr(unsafePointer(&size)))
			if e == 0 && head != 0 {
				withList++
			}
		}
		fmt.Println(cgo, withList, len(tasks))
		w.Ready()
		return testproc.DieBy(syscall.SIGKILL)
	})
}

// TestDyingWithCgo: in a cgo worker glibc registers a robust list on every
// thread it creates; ours replaces it on the SDK's one thread, and the
// death notice still comes. (Every -race test binary links cgo; without
// cgo the test still checks the notice and says so.)
func TestDyingWithCgo(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "libc-threads", Stdout: procbridge.Lines})
	require.NoError(t, err)
	var cgo bool
	var withList, threads int
	_, err = fmt.Sscan((<-p.Lines()).Text, &cgo, &withList, &threads)
	require.NoError(t, err)
	es := eventsOf(t, p)
	assert.True(t, hasDying(es), "Dying before Exited: %v", es)
	if cgo {
		assert.Greater(t, withList, 1, "glibc's lists on other threads, ours on the SDK's")
	} else {
		assert.Equal(t, 1, withList, "without cgo only the SDK's thread has a list")
		t.Log("the test binary is not cgo-linked: run with -race (or CGO_ENABLED=1 and a cgo import) for the cgo case")
	}
	t.Logf("cgo=%v: %d of %d threads carry a robust list", cgo, withList, threads)
}

// threads counts this process's threads.
func threads(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	require.NoError(t, err)
	return len(ents)
}

// TestDyingWaitersShareThreads: the death-notice waiters of many workers
// share a few threads (futex_waitv), and each worker's death is still told
// as Dying before Exited, whichever member of a batch dies.
func TestDyingWaitersShareThreads(t *testing.T) {
	const n = 40
	before := threads(t)
	var ps []*procbridge.Process
	for range n {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "wait"})
		require.NoError(t, err)
		ps = append(ps, p)
		_, isReady := nextEvent(t, p).(procbridge.Ready)
		require.True(t, isReady)
	}
	grown := threads(t) - before
	t.Logf("%d workers: %d more threads", n, grown)
	assert.Less(t, grown, n/2, "a waiter thread per worker")
	// Kill them in an order that leaves batches half empty, then the rest.
	for i := range ps {
		if i%2 == 0 {
			require.NoError(t, syscall.Kill(ps[i].Pid(), syscall.SIGKILL))
		}
	}
	for i := range ps {
		if i%2 == 1 {
			require.NoError(t, syscall.Kill(ps[i].Pid(), syscall.SIGKILL))
		}
	}
	for _, p := range ps {
		es := eventsOf(t, p)
		assert.True(t, hasDying(es), "pid %d: %v", p.Pid(), es)
	}
}

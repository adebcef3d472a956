//go:build linux

package audio

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/audio/internal/bus"
	"github.com/understudy/understudy/internal/linux"
)

// realTimeOrSkip skips a test that needs SCHED_FIFO and mlockall.
func realTimeOrSkip(t *testing.T) {
	t.Helper()
	if err := linux.SetFIFO(1); err != nil {
		t.Skipf("no SCHED_FIFO here: %v", err)
	}
	linux.SetFIFO(0)
	if !mayLockAll() {
		t.Skip("no mlockall here (CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK)")
	}
}

// TestRealTimeNodeLocksWhatItTouches: a real-time node process locks its
// pages as it touches them, not every mapping it has (with cgo, an 8 MiB
// stack per thread: a few hundred MiB faulted in and zeroed inside
// mlockall, at the loop's priority, each time a spare starts), and the
// shared mappings its loop works in, the bus and the state segment, are
// resident and locked whole before it serves.
func TestRealTimeNodeLocksWhatItTouches(t *testing.T) {
	realTimeOrSkip(t)
	g, sink := chain(48000, 128)
	e, err := Start(ctxT(t), Config{Graph: g, Sink: sink, Priority: 10, Watchdog: time.Second})
	require.NoError(t, err)
	defer e.Close(ctxT(t))
	_, err = e.Run(ctxT(t), 20)
	require.NoError(t, err)

	for h := range e.t.members {
		r := e.hosts[h].Load()
		for lane := range e.lanes {
			pid := r.pid(lane)
			require.Positive(t, pid, "host %d lane %d", h, lane)
			setup := atomic.LoadUint32(e.b.Host(h).Lane(lane).Setup())
			require.NotZero(t, setup&bus.SetupMemoryLocked, "host %d lane %d: memory not locked", h, lane)
			rss, shared := lockedMaps(t, pid)
			// A few tens of MiB; locking every mapping made it ~220 MiB.
			assert.Less(t, rss, int64(120<<20), "host %d lane %d: resident %d MiB", h, lane, rss>>20)
			require.NotEmpty(t, shared, "host %d lane %d: no shared mapping", h, lane)
			for _, m := range shared {
				assert.Equal(t, m.size, m.rss, "host %d lane %d: shared mapping %s not resident whole", h, lane, m.name)
				assert.True(t, m.locked, "host %d lane %d: shared mapping %s not locked", h, lane, m.name)
			}
		}
	}
}

type mapping struct {
	name      string
	size, rss int64
	locked    bool
}

// lockedMaps reads process pid's resident set, and the size, resident part
// and lock of each of its shared mappings, from /proc/<pid>/status and
// smaps (whose Locked line is proportional for shared pages: VmFlags says).
func lockedMaps(t *testing.T, pid int) (rss int64, shared []mapping) {
	t.Helper()
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(t, err)
	for line := range strings.Lines(string(st)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = kb(v)
		}
	}
	sm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps")
	require.NoError(t, err)
	var cur *mapping
	sc := bufio.NewScanner(bytes.NewReader(sm))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 2 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			cur = nil
			if len(f[1]) == 4 && f[1][3] == 's' {
				shared = append(shared, mapping{name: line})
				cur = &shared[len(shared)-1]
			}
			continue
		}
		if cur == nil {
			continue
		}
		if v, ok := strings.CutPrefix(line, "Size:"); ok {
			cur.size = kb(v)
		} else if v, ok := strings.CutPrefix(line, "Rss:"); ok {
			cur.rss = kb(v)
		} else if v, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			cur.locked = slices.Contains(strings.Fields(v), "lo")
		}
	}
	return rss, shared
}

// kb parses "  1234 kB" into bytes.
func kb(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n << 10
}

// TestRunRaisesEngineThreads: in real time, while a Run runs, every thread
// of the engine's process that was in normal scheduling runs in SCHED_FIFO
// (the Go scheduler hands the driver its P back through them), with
// reset-on-fork (a process started meanwhile does not inherit it), and
// when the Run ends each has its scheduling back; a thread the program put
// in a class of its own keeps it throughout.
func TestRunRaisesEngineThreads(t *testing.T) {
	realTimeOrSkip(t)
	// A thread of the program's own, in SCHED_BATCH.
	own := make(chan int)
	release := make(chan struct{})
	defer close(release)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_BATCH}
		if unix.SchedSetAttr(0, &attr, 0) != nil {
			own <- 0
			return
		}
		own <- unix.Gettid()
		<-release
	}()
	ownTid := <-own

	g, sink := chain(48000, 128)
	e, err := Start(ctxT(t), Config{Graph: g, Sink: sink, Priority: 10, Watchdog: time.Second})
	require.NoError(t, err)
	defer e.Close(ctxT(t))
	before := threadAttrs()
	var during map[int]unix.SchedAttr
	driver := 0
	e.cycleHook = func(C uint64) {
		if C == 10 {
			during, driver = threadAttrs(), unix.Gettid()
		}
	}
	_, err = e.Run(ctxT(t), 20)
	require.NoError(t, err)
	e.cycleHook = nil
	after := threadAttrs()

	require.NotEmpty(t, during)
	for tid, a := range during {
		b, existed := before[tid]
		switch {
		case tid == ownTid:
			assert.Equal(t, uint32(unix.SCHED_BATCH), a.Policy, "the program's own thread")
		case tid == driver:
			assert.Equal(t, uint32(unix.SCHED_FIFO), a.Policy, "the driver's thread")
			assert.Equal(t, uint32(e.driverPriority()), a.Priority, "the driver's thread")
		case existed && b.Policy == unix.SCHED_NORMAL:
			assert.Equal(t, uint32(unix.SCHED_FIFO), a.Policy, "thread %d during the Run", tid)
			assert.NotZero(t, a.Flags&linux.ResetOnFork, "thread %d during the Run: no reset-on-fork", tid)
		}
	}
	// procbridge's hang monitor raises whichever thread it is on, and may
	// be on one of these: at most one is left raised, by it.
	left := 0
	for tid, a := range after {
		if b, ok := before[tid]; ok && b.Policy == unix.SCHED_NORMAL && a.Policy != unix.SCHED_NORMAL {
			left++
		}
	}
	assert.LessOrEqual(t, left, 1, "threads left raised after the Run")
}

// threadAttrs returns the scheduling attributes of each thread of this
// process.
func threadAttrs() map[int]unix.SchedAttr {
	out := map[int]unix.SchedAttr{}
	linux.EachTask(os.Getpid(), func(tid int) {
		if a, err := unix.SchedGetAttr(tid, 0); err == nil {
			out[tid] = *a
		}
	})
	return out
}

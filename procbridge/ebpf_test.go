//go:build linux

package procbridge_test

import (
	"context"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/procbridge"
)

// needKernelWatch skips where the eBPF death watch does not load.
func needKernelWatch(t testing.TB) {
	t.Helper()
	if err := procbridge.KernelWatchErr(); err != nil {
		t.Skipf("the eBPF death watch does not load here (it needs root, or CAP_BPF and CAP_PERFMON, and the kernel's BTF): %v", err)
	}
}

// scripted starts a plain executable (no SDK) that runs script once the
// test writes a line to it (on descriptor 6), so that it acts only once it
// is watched; go lets it.
func scripted(t *testing.T, script string) (p *procbridge.Process, goAhead func()) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	t.Cleanup(func() { w.Close() })
	p, err = procbridge.Start(ctxT(t), procbridge.Spec{Path: "sh", Args: []string{"-c", "read x <&6; " + script}, ExtraFiles: []*os.File{r}})
	require.NoError(t, err)
	t.Cleanup(func() { p.Kill(); p.Wait(ctxT(t)) })
	require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
	return p, func() { w.Write([]byte("go\n")) }
}

// TestKernelDying: a plain executable, killed, crashed, exited, gets its
// Dying from the eBPF watch, with what the kernel said, then Exited.
func TestKernelDying(t *testing.T) {
	needKernelWatch(t)
	self := os.Getpid()
	for _, c := range []struct {
		name   string
		script string
		signal syscall.Signal // sent by the test, when not 0
		want   procbridge.Dying
	}{
		{"SIGKILL", "sleep 60", syscall.SIGKILL, procbridge.Dying{Signal: syscall.SIGKILL, Sender: self}},
		{"SIGTERM unhandled", "sleep 60", syscall.SIGTERM, procbridge.Dying{Signal: syscall.SIGTERM, Sender: self}},
		{"SIGSEGV sent", "sleep 60", syscall.SIGSEGV, procbridge.Dying{Signal: syscall.SIGSEGV, Sender: self}},
		{"SIGABRT itself", "kill -ABRT $$", 0, procbridge.Dying{Signal: syscall.SIGABRT, Sender: -1}},
		{"exit 3", "exit 3", 0, procbridge.Dying{Code: 3}},
		{"SIGTERM handled", "trap 'exit 4' TERM; kill -TERM $$; sleep 60", 0, procbridge.Dying{Code: 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The watch's Dying comes before Exited, however soon the
			// process is torn down: its notice is read before its end is
			// told.
			p, goAhead := scripted(t, c.script)
			if c.signal != 0 {
				// Sent while the shell waits to be told to go on:
				// once told, it blocks every signal while it forks
				// the sleep, and a signal that arrives blocked is
				// fatal only when the shell unblocks it (the
				// kernel's exit tells it then, with no sender).
				require.NoError(t, syscall.Kill(p.Pid(), c.signal))
			} else {
				goAhead()
			}
			e := nextEvent(t, p)
			if c.want.Sender == -1 {
				c.want.Sender = p.Pid()
			}
			d, ok := e.(procbridge.Dying)
			require.True(t, ok, "want Dying, got %v", e)
			assert.Equal(t, "ebpf", d.Source)
			assert.Equal(t, p.Pid(), d.Pid)
			assert.Equal(t, c.want.Signal, d.Signal)
			assert.Equal(t, c.want.Code, d.Code)
			assert.Equal(t, c.want.Sender, d.Sender)
			assert.False(t, d.Kernel.After(d.Time), "the kernel's time comes before the bridge's")
			require.IsType(t, procbridge.Exited{}, nextEvent(t, p))
		})
	}
}

// TestKernelWatchLingers: the watch stays attached for a while after its
// last process ends, so that a worker started again at once is watched
// from its first instruction (attaching right after a detach waits out
// the kernel's grace period, and a worker that dies in it goes without
// its Dying); it detaches by itself once the while is over.
func TestKernelWatchLingers(t *testing.T) {
	needKernelWatch(t)
	p, goAhead := scripted(t, "exit 3")
	goAhead()
	for {
		if _, ok := nextEvent(t, p).(procbridge.Exited); ok {
			break
		}
	}
	require.NotNil(t, procbridge.KernelWatchEnded(), "detached as its last process ended")

	// Started with the watch attached, a worker that kills itself at once
	// is seen dying: it is watched from its fork, and its notice is read
	// before its end is told.
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Path: "sh", Args: []string{"-c", "kill -KILL $$"}})
	require.NoError(t, err)
	require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
	e := nextEvent(t, p)
	d, ok := e.(procbridge.Dying)
	require.True(t, ok, "want Dying, got %v", e)
	assert.Equal(t, "ebpf", d.Source)
	assert.Equal(t, syscall.SIGKILL, d.Signal)
	require.IsType(t, procbridge.Exited{}, nextEvent(t, p))

	if ended := procbridge.KernelWatchEnded(); ended != nil {
		select {
		case <-ended:
		case <-time.After(deadline):
			t.Fatalf("still attached %v after its last process", deadline)
		}
	}
}

// TestKernelReadersApart: where the supervisor may run on two CPUs, the
// watch's notices are read by two raised threads, each kept to a CPU of
// its own, so that a dying process busy in the kernel on one CPU (which,
// on a kernel that does not preempt itself, holds up a raised thread
// woken there) cannot hold both up; and a notice is still read.
func TestKernelReadersApart(t *testing.T) {
	needKernelWatch(t)
	var all unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &all))
	p, _ := scripted(t, "sleep 60")
	want := min(all.Count(), 2)
	var tids []int
	for end := time.Now().Add(deadline); len(tids) < want; tids = procbridge.KernelReaders() {
		require.True(t, time.Now().Before(end), "%d readers, want %d", len(tids), want)
		runtime.Gosched()
	}
	require.Len(t, tids, want)
	cpus := map[int]bool{}
	for _, tid := range tids {
		var set unix.CPUSet
		require.NoError(t, unix.SchedGetaffinity(tid, &set))
		if want == 1 {
			continue
		}
		require.Equal(t, 1, set.Count(), "reader %d is kept to one CPU", tid)
		for c := range len(set) * 64 {
			if set.IsSet(c) {
				cpus[c] = true
			}
		}
		attr, err := unix.SchedGetAttr(tid, 0)
		require.NoError(t, err)
		if os.Geteuid() == 0 {
			assert.Equal(t, uint32(unix.SCHED_FIFO), attr.Policy, "reader %d is raised", tid)
		}
	}
	if want == 2 {
		assert.Len(t, cpus, 2, "the readers are kept to CPUs apart")
	}
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGKILL))
	e := nextEvent(t, p)
	if d, ok := e.(procbridge.Dying); assert.True(t, ok || isExited(e), "got %v", e) && ok {
		assert.Equal(t, "ebpf", d.Source)
	}
}

func isExited(e procbridge.Event) bool {
	_, ok := e.(procbridge.Exited)
	return ok
}

// TestKernelDyingNotOnStop: a worker the bridge stops gets no Dying.
func TestKernelDyingNotOnStop(t *testing.T) {
	needKernelWatch(t)
	p, _ := scripted(t, "sleep 60")
	_, err := p.Stop(ctxT(t))
	require.NoError(t, err)
	e := nextEvent(t, p)
	require.IsType(t, procbridge.Exited{}, e, "got %v", e)
}

// TestKernelDyingSDK: a worker with the SDK gets one Dying, from whichever
// notice comes first.
func TestKernelDyingSDK(t *testing.T) {
	needKernelWatch(t)
	for range 5 {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "sigkill"})
		require.NoError(t, err)
		require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
		d, ok := nextEvent(t, p).(procbridge.Dying)
		require.True(t, ok)
		assert.Contains(t, []string{"ebpf", "futex"}, d.Source)
		require.IsType(t, procbridge.Exited{}, nextEvent(t, p))
	}
}

// TestKernelWatchFallback: without the eBPF watch (forced, as on a host
// that cannot load it) a plain executable's death is told by the pidfd
// alone: Exited, no Dying.
func TestKernelWatchFallback(t *testing.T) {
	procbridge.SetKernelWatchForTest(false)
	defer procbridge.SetKernelWatchForTest(true)
	p, goAhead := scripted(t, "sleep 60")
	goAhead()
	require.NoError(t, syscall.Kill(-p.Pid(), syscall.SIGKILL))
	e := nextEvent(t, p)
	x, ok := e.(procbridge.Exited)
	require.True(t, ok, "want Exited, got %v", e)
	assert.Equal(t, syscall.SIGKILL, x.Exit.Signal)
}

// TestGroupFailsOverOnKernelNotice: a group whose workers keep no robust
// futex (so that only the eBPF watch can tell first) fails over on the
// watch's Dying, with the same fencing: a new epoch, the count carried on.
func TestGroupFailsOverOnKernelNotice(t *testing.T) {
	needKernelWatch(t)
	g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{
		Worker: "beating-counter", StateSize: 8, RingSize: 4096, Heartbeat: groupBeat,
		Env: append(os.Environ(), "UNDERSTUDY_TEST_NO_ROBUST=1"),
	}, 1)
	require.NoError(t, err)
	t.Cleanup(func() { g.Stop(context.Background()) })
	primary, spare := g.Primary(), g.Spares()[0]
	awaitCount(t, g, 10)
	require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGKILL))
	p := nextGroupEvent[procbridge.Promoted](t, g)
	assert.Equal(t, primary.Pid(), p.From)
	assert.Equal(t, spare.Pid(), p.To)
	d, ok := p.Cause.(procbridge.Dying)
	require.True(t, ok, "the eBPF watch told first: %v", p.Cause)
	assert.Equal(t, "ebpf", d.Source)
	assert.Equal(t, syscall.SIGKILL, d.Signal)
	assert.Equal(t, os.Getpid(), d.Sender)
	assert.Equal(t, uint64(1), p.Epoch)
	assert.False(t, p.ByKernel, "no robust futex: the group woke the spare")
	awaitCount(t, g, 20) // the new primary counts on
}

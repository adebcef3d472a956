package linux

import (
	"os/exec"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// onOwnThread locks the test to its thread, gives the thread its
// scheduling back when the test ends, and returns that scheduling; it
// skips the test unless the thread is in the default class.
func onOwnThread(t *testing.T) *unix.SchedAttr {
	t.Helper()
	runtime.LockOSThread()
	orig, err := unix.SchedGetAttr(0, 0)
	require.NoError(t, err)
	t.Cleanup(func() {
		unix.SchedSetAttr(0, orig, 0)
		runtime.UnlockOSThread()
	})
	if orig.Policy != unix.SCHED_NORMAL {
		t.Skipf("the test's thread is in class %d already", orig.Policy)
	}
	return orig
}

// TestRestore: a raised thread gets back what it had, unless the program
// has put it in a class of its own since.
func TestRestore(t *testing.T) {
	orig := onOwnThread(t)

	r := RaiseOwn()
	if r.old == nil {
		t.Skip("this kernel and these privileges raise no thread")
	}
	assert.Equal(t, unix.Gettid(), r.Tid())
	cur, err := unix.SchedGetAttr(0, 0)
	require.NoError(t, err)
	require.True(t, asRaised(cur), "raised: %+v", cur)
	r.Restore()
	cur, err = unix.SchedGetAttr(0, 0)
	require.NoError(t, err)
	assert.Equal(t, orig.Policy, cur.Policy)
	assert.Equal(t, orig.Nice, cur.Nice)
	assert.False(t, asRaised(cur), "restored: %+v", cur)

	r = RaiseOwn()
	batch := unix.SchedAttr{Policy: unix.SCHED_BATCH, Nice: orig.Nice, Flags: ResetOnFork}
	require.NoError(t, unix.SchedSetAttr(0, &batch, 0))
	r.Restore()
	cur, err = unix.SchedGetAttr(0, 0)
	require.NoError(t, err)
	assert.Equal(t, uint32(unix.SCHED_BATCH), cur.Policy, "the program's own class is kept")
}

// TestBoostOwn: BoostOwn raises this process's threads until its last
// hold ends, gives each back as it was, and a thread that RaiseOwn raised
// meanwhile is given back at the nice it had before the boost, whichever
// of the two ends first.
func TestBoostOwn(t *testing.T) {
	orig := onOwnThread(t)
	if orig.Nice != 0 {
		t.Skipf("the test's thread is at nice %d", orig.Nice)
	}
	nice := func() int32 {
		t.Helper()
		cur, err := unix.SchedGetAttr(0, 0)
		require.NoError(t, err)
		return cur.Nice
	}
	first, second := BoostOwn(), BoostOwn()
	if nice() != BoostNice {
		first()
		second()
		t.Skip("this process may not raise its threads to nice -20 (CAP_SYS_NICE)")
	}
	first()
	first()
	assert.Equal(t, int32(BoostNice), nice(), "one hold ended, twice, and one goes on")
	second()
	cur, err := unix.SchedGetAttr(0, 0)
	require.NoError(t, err)
	assert.Equal(t, *orig, *cur, "given back as it was")

	release := BoostOwn()
	r := RaiseOwn()
	release()
	r.Restore()
	cur, err = unix.SchedGetAttr(0, 0)
	require.NoError(t, err)
	assert.Equal(t, uint32(unix.SCHED_NORMAL), cur.Policy)
	assert.Equal(t, int32(0), cur.Nice, "raised during the boost, given back after it")

	release = BoostOwn()
	require.Equal(t, int32(BoostNice), nice())
	r = RaiseOwn()
	r.Restore()
	assert.Equal(t, int32(BoostNice), nice(), "raised and given back within the boost")
	release()
	assert.Equal(t, int32(0), nice(), "the boost's end")

	// A thread at nice 0 while a hold lasts, as one the runtime starts
	// then is (reset-on-fork): given back into the hold, or raised by
	// BoostOwnNew, and given back at its end either way.
	release = BoostOwn()
	require.NoError(t, unix.Setpriority(unix.PRIO_PROCESS, 0, 0))
	r = RaiseOwn()
	r.Restore()
	assert.Equal(t, int32(BoostNice), nice(), "given back into the hold")
	require.NoError(t, unix.Setpriority(unix.PRIO_PROCESS, 0, 0))
	BoostOwnNew()
	assert.Equal(t, int32(BoostNice), nice(), "raised by BoostOwnNew")
	release()
	assert.Equal(t, int32(0), nice(), "the boost's end")
	BoostOwnNew()
	assert.Equal(t, int32(0), nice(), "BoostOwnNew with no hold")
}

// TestRaiseEnding: every thread of the process is raised to SCHED_FIFO 1
// (or, where that is refused, to nice -20).
func TestRaiseEnding(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	pid := cmd.Process.Pid
	if !RaiseEnding(pid) {
		t.Skip("this process may not raise another's threads")
	}
	a, err := unix.SchedGetAttr(pid, 0)
	require.NoError(t, err)
	if a.Policy != unix.SCHED_FIFO {
		assert.Equal(t, uint32(unix.SCHED_NORMAL), a.Policy, "%+v", a)
		assert.Equal(t, int32(BoostNice), a.Nice, "the real-time class refused: %+v", a)
		return
	}
	assert.Equal(t, uint32(1), a.Priority, "%+v", a)
	assert.NotZero(t, a.Flags&ResetOnFork, "%+v", a)
	assert.True(t, RaiseEnding(1<<30), "a process that is gone: nothing to raise")
}

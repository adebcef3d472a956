//go:build linux

package procbridge

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
)

// TestRaisedThreadKeptAfterAForeignRaiseEnds: the hang monitor's
// goroutine on a thread another part of the program raised (an audio
// engine raises its process's threads for a Run) is raised again once
// that raise is taken back, though it never moved.
func TestRaisedThreadKeptAfterAForeignRaiseEnds(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := unix.SchedGetAttr(0, 0)
	require.NoError(t, err)
	defer unix.SchedSetAttr(0, orig, 0)
	if orig.Policy != unix.SCHED_NORMAL {
		t.Skipf("the test's thread is in class %d already", orig.Policy)
	}
	foreign := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1, Flags: linux.ResetOnFork}
	if unix.SchedSetAttr(0, &foreign, 0) != nil {
		t.Skip("no real-time class here")
	}
	var rt raisedThread
	rt.keep()
	require.True(t, rt.Foreign(), "found in another's class")

	// The other raise ends: the thread is given its normal scheduling back.
	require.NoError(t, unix.SchedSetAttr(0, orig, 0))
	rt.keep()
	cur, err := unix.SchedGetAttr(0, 0)
	require.NoError(t, err)
	require.Equal(t, uint32(unix.SCHED_FIFO), cur.Policy, "raised again on its own thread")
	rt.release()
	cur, err = unix.SchedGetAttr(0, 0)
	require.NoError(t, err)
	require.Equal(t, uint32(unix.SCHED_NORMAL), cur.Policy, "released: its normal scheduling back")
}

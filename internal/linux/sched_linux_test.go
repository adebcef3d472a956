package linux

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestRestore: a raised thread gets back what it had, unless the program
// has put it in a class of its own since.
func TestRestore(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := unix.SchedGetAttr(0, 0)
	require.NoError(t, err)
	defer unix.SchedSetAttr(0, orig, 0)
	if orig.Policy != unix.SCHED_NORMAL {
		t.Skipf("the test's thread is in class %d already", orig.Policy)
	}

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

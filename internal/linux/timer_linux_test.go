package linux

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/mono"
)

// TestTimerWakesEpoll: a timer set in an epoll set ends a wait, raw or
// not, once its time has come; drained, it is quiet again.
func TestTimerWakesEpoll(t *testing.T) {
	timer, err := NewTimer()
	require.NoError(t, err)
	defer unix.Close(timer)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	require.NoError(t, err)
	defer unix.Close(ep)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(timer)}
	require.NoError(t, unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, timer, &ev))

	for _, raw := range []bool{false, true} {
		at := mono.Now() + int64(time.Millisecond)
		SetTimer(timer, at)
		fds, err := EpollWait(ep, nil, raw, 10_000)
		require.NoError(t, err)
		assert.Equal(t, []int32{int32(timer)}, fds)
		assert.GreaterOrEqual(t, mono.Now(), at)
		DrainTimer(timer)
		fds, err = EpollWait(ep, nil, false, 0)
		require.NoError(t, err)
		assert.Empty(t, fds, "drained")
	}
}

// TestSleepUntil sleeps to an absolute time.
func TestSleepUntil(t *testing.T) {
	at := mono.Now() + int64(time.Millisecond)
	SleepUntil(at)
	assert.GreaterOrEqual(t, mono.Now(), at)
}

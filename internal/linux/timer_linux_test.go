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

// TestTimerRemaining: gettime tells what is left, and disarming (which
// never blocks) leaves a blocking timerfd that had expired unreadable.
func TestTimerRemaining(t *testing.T) {
	timer, err := NewTimer()
	require.NoError(t, err)
	defer unix.Close(timer)
	assert.Zero(t, TimerRemaining(timer), "disarmed")
	var now unix.Timespec
	require.NoError(t, unix.ClockGettime(unix.CLOCK_MONOTONIC, &now))
	SetTimer(timer, now.Nano()+int64(time.Hour))
	left := TimerRemaining(timer)
	assert.Greater(t, left, int64(59*time.Minute))
	assert.LessOrEqual(t, left, int64(time.Hour))

	require.NoError(t, unix.SetNonblock(timer, false))
	SetTimer(timer, 1) // expired at once
	fds := []unix.PollFd{{Fd: int32(timer), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 5000)
	require.NoError(t, err)
	require.Equal(t, 1, n, "expired")
	SetTimer(timer, 0)
	n, err = unix.Poll(fds, 0)
	require.NoError(t, err)
	assert.Zero(t, n, "disarming clears the expiry: nothing left to read")
}

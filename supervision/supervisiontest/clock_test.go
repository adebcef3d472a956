package supervisiontest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// t0 is an arbitrary, non-zero start time for tests.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// pending returns the number of timers that are scheduled and have not
// run or been stopped.
func (c *FakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func TestFakeClockRunsTimersInOrder(t *testing.T) {
	clock := NewFakeClock(t0)
	var fired []string
	var firedAt []time.Duration
	at := func(name string) func() {
		return func() {
			fired = append(fired, name)
			firedAt = append(firedAt, clock.Now().Sub(t0))
		}
	}
	clock.AfterFunc(3*time.Second, at("c"))
	clock.AfterFunc(time.Second, at("a"))
	clock.AfterFunc(2*time.Second, at("b1"))
	clock.AfterFunc(2*time.Second, at("b2"))
	clock.AfterFunc(5*time.Second, at("later"))
	require.Equal(t, 5, clock.pending())

	clock.Advance(3 * time.Second)

	assert.Equal(t, []string{"a", "b1", "b2", "c"}, fired)
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 2 * time.Second, 3 * time.Second}, firedAt)
	assert.Equal(t, t0.Add(3*time.Second), clock.Now())
	assert.Equal(t, 1, clock.pending())
}

func TestFakeClockAdvance(t *testing.T) {
	tests := []struct {
		name      string
		after     time.Duration
		advance   time.Duration
		wantFired bool
		wantNow   time.Duration
	}{
		{"exactly due", time.Second, time.Second, true, time.Second},
		{"not yet due", time.Second, time.Second - 1, false, time.Second - 1},
		{"zero delay runs on Advance(0)", 0, 0, true, 0},
		{"negative delay is due now", -time.Second, 0, true, 0},
		{"negative advance does not go back", time.Second, -time.Second, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := NewFakeClock(t0)
			fired := false
			clock.AfterFunc(tt.after, func() { fired = true })
			assert.False(t, fired, "AfterFunc does not call f itself")
			clock.Advance(tt.advance)
			assert.Equal(t, tt.wantFired, fired)
			assert.Equal(t, t0.Add(tt.wantNow), clock.Now())
		})
	}
}

func TestFakeClockStop(t *testing.T) {
	clock := NewFakeClock(t0)
	fired := false
	stop := clock.AfterFunc(time.Second, func() { fired = true })
	assert.True(t, stop())
	assert.False(t, stop(), "a second stop reports false")
	clock.Advance(time.Hour)
	assert.False(t, fired)

	ran := clock.AfterFunc(time.Second, func() {})
	clock.Advance(time.Second)
	assert.False(t, ran(), "a stop after the call reports false")
}

func TestFakeClockRunsTimersScheduledByTimers(t *testing.T) {
	clock := NewFakeClock(t0)
	var ticks []time.Duration
	var tick func()
	tick = func() {
		ticks = append(ticks, clock.Now().Sub(t0))
		clock.AfterFunc(time.Second, tick)
	}
	clock.AfterFunc(time.Second, tick)
	clock.Advance(3500 * time.Millisecond)
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}, ticks)
	assert.Equal(t, 1, clock.pending())
}

func TestFakeClockWaitForTimers(t *testing.T) {
	clock := NewFakeClock(t0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		clock.AfterFunc(time.Second, func() {})
		clock.AfterFunc(2*time.Second, func() {})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, clock.WaitForTimers(ctx, 2))
	<-done
	assert.Equal(t, 2, clock.pending())

	cancelled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	assert.ErrorIs(t, clock.WaitForTimers(cancelled, 3), context.Canceled)
}

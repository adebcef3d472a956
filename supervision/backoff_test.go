package supervision

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision/supervisiontest"
)

func TestBackoffValidate(t *testing.T) {
	tests := []struct {
		name string
		b    Backoff
		want []string // substrings of the error; none means valid
	}{
		{"zero value", Backoff{}, nil},
		{"disabled", Backoff{Initial: -1}, nil},
		{"explicit", Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 1.5, Jitter: 0.2, ResetAfter: time.Hour}, nil},
		{"constant", Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}, nil},
		{"full jitter", Backoff{Jitter: 1}, nil},
		{"negative max", Backoff{Max: -time.Second}, []string{"Backoff.Max", "-1s"}},
		{"multiplier below 1", Backoff{Multiplier: 0.5}, []string{"Backoff.Multiplier", "0.5"}},
		{"negative multiplier", Backoff{Multiplier: -2}, []string{"Backoff.Multiplier", "-2"}},
		{"NaN multiplier", Backoff{Multiplier: math.NaN()}, []string{"Backoff.Multiplier", "NaN"}},
		{"infinite multiplier", Backoff{Multiplier: math.Inf(1)}, []string{"Backoff.Multiplier", "+Inf"}},
		{"negative jitter", Backoff{Jitter: -0.1}, []string{"Backoff.Jitter", "-0.1"}},
		{"jitter above 1", Backoff{Jitter: 1.5}, []string{"Backoff.Jitter", "1.5"}},
		{"NaN jitter", Backoff{Jitter: math.NaN()}, []string{"Backoff.Jitter", "NaN"}},
		{"negative reset after", Backoff{ResetAfter: -time.Minute}, []string{"Backoff.ResetAfter", "-1m0s"}},
		{"initial above max", Backoff{Initial: 2 * time.Second, Max: time.Second}, []string{"Backoff.Initial", "2s", "Backoff.Max", "1s"}},
		{"initial above default max", Backoff{Initial: time.Minute}, []string{"Backoff.Initial", "1m0s", "default Backoff.Max", "10s"}},
		{"several", Backoff{Max: -1, Jitter: 2}, []string{"Backoff.Max", "Backoff.Jitter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Spec{Children: []ChildSpec{{Name: "a", Process: &procbridge.Spec{Path: "true"}, Backoff: tt.b}}}).Validate()
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			for _, s := range tt.want {
				assert.ErrorContains(t, err, s)
			}
		})
	}
}

func TestBackoffNext(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		b    Backoff
		want []time.Duration // waits for consecutive failures
	}{
		{
			name: "default: immediate, then doubling from 100ms up to 10s",
			want: []time.Duration{0, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 10 * time.Second, 10 * time.Second},
		},
		{
			name: "tripling, capped",
			b:    Backoff{Initial: time.Second, Max: 5 * time.Second, Multiplier: 3},
			want: []time.Duration{0, time.Second, 3 * time.Second, 5 * time.Second, 5 * time.Second},
		},
		{
			name: "multiplier 1 is constant",
			b:    Backoff{Initial: 250 * ms, Multiplier: 1},
			want: []time.Duration{0, 250 * ms, 250 * ms, 250 * ms},
		},
		{
			name: "initial equal to max",
			b:    Backoff{Initial: time.Second, Max: time.Second},
			want: []time.Duration{0, time.Second, time.Second},
		},
		{
			name: "fractional multiplier",
			b:    Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 1.5},
			want: []time.Duration{0, time.Second, 1500 * ms, 2250 * ms, 3375 * ms},
		},
		{
			name: "disabled",
			b:    Backoff{Initial: -1},
			want: []time.Duration{0, 0, 0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &backoffState{policy: tt.b}
			for i, want := range tt.want {
				// upSince is zero: the child never came up, so nothing resets.
				got := s.next(t0.Add(time.Duration(i)*time.Minute), time.Time{}, nil)
				assert.Equal(t, want, got, "failure %d", i)
			}
		})
	}
}

func TestBackoffStateZeroValueUsesDefaults(t *testing.T) {
	var s backoffState
	assert.Equal(t, time.Duration(0), s.next(t0, time.Time{}, nil))
	assert.Equal(t, 100*time.Millisecond, s.next(t0, time.Time{}, nil))
	assert.Equal(t, 200*time.Millisecond, s.next(t0, time.Time{}, nil))
}

func TestBackoffNeverOverflows(t *testing.T) {
	s := &backoffState{policy: Backoff{Initial: time.Nanosecond, Max: math.MaxInt64, Multiplier: 1e300}}
	for i := range 10_000 {
		got := s.next(t0, time.Time{}, nil)
		require.GreaterOrEqual(t, got, time.Duration(0), "failure %d", i)
		require.LessOrEqual(t, got, time.Duration(math.MaxInt64), "failure %d", i)
	}
	assert.Equal(t, time.Duration(math.MaxInt64), s.next(t0, time.Time{}, nil))
}

func TestBackoffJitter(t *testing.T) {
	fixed := func(r float64) func() float64 { return func() float64 { return r } }
	base := Backoff{Initial: time.Second, Max: time.Minute, Jitter: 0.5}
	tests := []struct {
		name     string
		b        Backoff
		failures int // the wait of the last of these is checked
		rnd      func() float64
		want     time.Duration
	}{
		{"first restart stays immediate", base, 1, fixed(0.9), 0},
		{"middle of the range", base, 2, fixed(0.5), time.Second},
		{"lowest", base, 2, fixed(0), 500 * time.Millisecond},
		{"highest", base, 2, fixed(0.75), 1250 * time.Millisecond},
		{"negative random clamps to lowest", base, 2, fixed(-3), 500 * time.Millisecond},
		{"NaN random clamps to lowest", base, 2, fixed(math.NaN()), 500 * time.Millisecond},
		{"random above 1 clamps to highest", base, 2, fixed(7), 1500 * time.Millisecond},
		{"at the cap, jitter does not exceed Max", Backoff{Initial: time.Second, Max: 2 * time.Second, Jitter: 0.5}, 4, fixed(1), 2 * time.Second},
		{"at the cap, jitter still goes below Max", Backoff{Initial: time.Second, Max: 2 * time.Second, Jitter: 0.5}, 4, fixed(0), time.Second},
		{"full jitter can reach zero", Backoff{Initial: time.Second, Jitter: 1}, 2, fixed(0), 0},
		{"no jitter ignores the random source", Backoff{Initial: time.Second}, 2, fixed(0), time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &backoffState{policy: tt.b}
			var got time.Duration
			for range tt.failures {
				got = s.next(t0, time.Time{}, tt.rnd)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestBackoffJitterIsUnbiasedAroundTheBase checks that jitter does not
// change the progression itself: after jittered waits the next base wait is
// still the doubled one.
func TestBackoffJitterIsUnbiasedAroundTheBase(t *testing.T) {
	s := &backoffState{policy: Backoff{Initial: time.Second, Max: time.Minute, Jitter: 0.5}}
	low := func() float64 { return 0 }
	mid := func() float64 { return 0.5 }
	s.next(t0, time.Time{}, low)
	s.next(t0, time.Time{}, low)
	s.next(t0, time.Time{}, low)
	assert.Equal(t, 4*time.Second, s.next(t0, time.Time{}, mid))
}

func TestBackoffJitterWithDefaultRandomSourceStaysInBounds(t *testing.T) {
	s := &backoffState{policy: Backoff{Initial: time.Second, Max: time.Second, Jitter: 0.2}}
	s.next(t0, time.Time{}, nil)
	for i := range 1000 {
		got := s.next(t0, time.Time{}, nil)
		require.GreaterOrEqual(t, got, 800*time.Millisecond, "failure %d", i)
		require.LessOrEqual(t, got, time.Second, "failure %d", i)
	}
}

func TestBackoffResetsAfterStableUptime(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: time.Minute, ResetAfter: 30 * time.Second}
	tests := []struct {
		name    string
		upSince func(now time.Time) time.Time
		want    time.Duration // wait for the failure after three quick ones
	}{
		{"up for ResetAfter resets", func(now time.Time) time.Time { return now.Add(-30 * time.Second) }, 0},
		{"up for longer resets", func(now time.Time) time.Time { return now.Add(-time.Hour) }, 0},
		{"up just under ResetAfter keeps growing", func(now time.Time) time.Time { return now.Add(-30*time.Second + time.Nanosecond) }, 4 * time.Second},
		{"never up keeps growing", func(time.Time) time.Time { return time.Time{} }, 4 * time.Second},
		{"upSince after now keeps growing", func(now time.Time) time.Time { return now.Add(time.Hour) }, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &backoffState{policy: b}
			now := t0
			for _, want := range []time.Duration{0, time.Second, 2 * time.Second} {
				// Each run lasts a second before failing.
				require.Equal(t, want, s.next(now, now.Add(-time.Second), nil))
				now = now.Add(want + time.Second)
			}
			assert.Equal(t, tt.want, s.next(now, tt.upSince(now), nil))
		})
	}
}

func TestBackoffResetStartsOver(t *testing.T) {
	var s backoffState
	s.next(t0, time.Time{}, nil)
	s.next(t0, time.Time{}, nil)
	s.reset()
	assert.Equal(t, time.Duration(0), s.next(t0, time.Time{}, nil))
	assert.Equal(t, 100*time.Millisecond, s.next(t0, time.Time{}, nil))
}

// TestBackoffComposesWithIntensity runs a child that crashes one second
// after every start under a supervisor that schedules restarts on a
// FakeClock: the backoff spaces the restarts out, every restart counts
// towards the intensity, and the supervisor gives up once more than
// MaxRestarts fall within Period.
func TestBackoffComposesWithIntensity(t *testing.T) {
	tests := []struct {
		name        string
		in          Intensity
		wantStarts  []time.Duration // seconds after t0
		wantGaveUp  bool
		wantPending int
	}{
		{
			// Crashes at 1, 2, 4, 7 and 12s, restarts after 0, 1, 2 and 4s:
			// the crash at 12s is the fifth within 20s, one too many.
			name:       "backoff alone does not hide a crash loop",
			in:         Intensity{MaxRestarts: 4, Period: 20 * time.Second},
			wantStarts: []time.Duration{0, 1, 3, 6, 11},
			wantGaveUp: true,
		},
		{
			// Once the wait reaches its 4s cap the child crashes every 5s,
			// so no 10s window ever holds more than 3 restarts.
			name:        "backoff slows the restarts below the intensity",
			in:          Intensity{MaxRestarts: 4, Period: 10 * time.Second},
			wantStarts:  []time.Duration{0, 1, 3, 6, 11, 16, 21, 26, 31, 36, 41, 46, 51, 56},
			wantPending: 1, // the restart due at 61s
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := supervisiontest.NewFakeClock(t0)
			pending := 0 // timers scheduled and not run
			after := func(d time.Duration, f func()) {
				pending++
				clock.AfterFunc(d, func() { pending--; f() })
			}
			backoff := &backoffState{policy: Backoff{Initial: time.Second, Max: 4 * time.Second, ResetAfter: time.Minute}}
			intensity := &intensityTracker{intensity: tt.in}

			var starts []time.Duration
			gaveUp := false
			var start func()
			start = func() {
				upSince := clock.Now()
				starts = append(starts, upSince.Sub(t0)/time.Second)
				after(time.Second, func() { // the child crashes
					now := clock.Now()
					if intensity.add(now) {
						gaveUp = true
						return
					}
					after(backoff.next(now, upSince, nil), start)
				})
			}
			start()
			clock.Advance(time.Minute)

			assert.Equal(t, tt.wantStarts, starts)
			assert.Equal(t, tt.wantGaveUp, gaveUp)
			assert.Equal(t, tt.wantPending, pending)
		})
	}
}

func TestSystemClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := systemClock{}
		start := clock.Now()
		fired := make(chan time.Time, 1)
		clock.AfterFunc(3*time.Second, func() { fired <- clock.Now() })
		stop := clock.AfterFunc(time.Second, func() { t.Error("stopped timer fired") })
		assert.True(t, stop())

		at := <-fired
		assert.Equal(t, 3*time.Second, at.Sub(start))
	})
}

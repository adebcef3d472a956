package supervision

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

// t0 is an arbitrary, non-zero start time for tests.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func TestIntensityValidate(t *testing.T) {
	tests := []struct {
		name string
		in   Intensity
		want []string // substrings of the error; none means valid
	}{
		{"zero value", Intensity{}, nil},
		{"no restarts", Intensity{MaxRestarts: NoRestarts}, nil},
		{"explicit", Intensity{MaxRestarts: 10, Period: time.Minute}, nil},
		{"tiny period", Intensity{MaxRestarts: 1, Period: time.Nanosecond}, nil},
		{"max restarts below NoRestarts", Intensity{MaxRestarts: -2}, []string{"Intensity.MaxRestarts", "-2"}},
		{"negative period", Intensity{Period: -time.Second}, []string{"Intensity.Period", "-1s"}},
		{"both", Intensity{MaxRestarts: -5, Period: -time.Millisecond}, []string{"Intensity.MaxRestarts", "-5", "Intensity.Period", "-1ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Spec{Intensity: tt.in, Children: []ChildSpec{{Name: "a", Process: &procbridge.Spec{Path: "true"}}}}).Validate()
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

func TestIntensityTrackerAdd(t *testing.T) {
	tests := []struct {
		name     string
		in       Intensity
		restarts []time.Duration // times of restarts, after t0
		want     []bool          // exceeded, per restart
	}{
		{
			name:     "default allows one restart",
			restarts: []time.Duration{0},
			want:     []bool{false},
		},
		{
			name:     "default: second restart within 5s exceeds",
			restarts: []time.Duration{0, 4 * time.Second},
			want:     []bool{false, true},
		},
		{
			name:     "restart exactly one period later still counts",
			restarts: []time.Duration{0, 5 * time.Second},
			want:     []bool{false, true},
		},
		{
			name:     "restart just after one period has expired",
			restarts: []time.Duration{0, 5*time.Second + time.Nanosecond},
			want:     []bool{false, false},
		},
		{
			name:     "simultaneous restarts",
			restarts: []time.Duration{0, 0},
			want:     []bool{false, true},
		},
		{
			name:     "no restarts allowed",
			in:       Intensity{MaxRestarts: NoRestarts},
			restarts: []time.Duration{0},
			want:     []bool{true},
		},
		{
			name:     "no restarts allowed, however long the gap",
			in:       Intensity{MaxRestarts: NoRestarts, Period: time.Millisecond},
			restarts: []time.Duration{0, time.Hour},
			want:     []bool{true, true},
		},
		{
			name:     "third of two allowed within the period",
			in:       Intensity{MaxRestarts: 2, Period: 10 * time.Second},
			restarts: []time.Duration{0, 4 * time.Second, 8 * time.Second},
			want:     []bool{false, false, true},
		},
		{
			name: "window slides past old restarts",
			in:   Intensity{MaxRestarts: 2, Period: 10 * time.Second},
			// At 11s the restart at 0 has left the window; at 13s the
			// window [3s, 13s] holds 4s, 11s and 13s.
			restarts: []time.Duration{0, 4 * time.Second, 11 * time.Second, 13 * time.Second},
			want:     []bool{false, false, false, true},
		},
		{
			name:     "steady rate just under the limit never exceeds",
			in:       Intensity{MaxRestarts: 1, Period: time.Second},
			restarts: []time.Duration{0, 1001 * time.Millisecond, 2002 * time.Millisecond, 3003 * time.Millisecond},
			want:     []bool{false, false, false, false},
		},
		{
			name:     "exceeding is recorded and recovers once the window clears",
			in:       Intensity{MaxRestarts: 1, Period: 5 * time.Second},
			restarts: []time.Duration{0, time.Second, 3 * time.Second, 9 * time.Second},
			want:     []bool{false, true, true, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Len(t, tt.want, len(tt.restarts))
			tr := &intensityTracker{intensity: tt.in}
			for i, at := range tt.restarts {
				assert.Equal(t, tt.want[i], tr.add(t0.Add(at)), "restart %d at %v", i, at)
			}
		})
	}
}

func TestIntensityTrackerZeroValueUsesDefault(t *testing.T) {
	var tr intensityTracker
	assert.False(t, tr.add(t0))
	assert.True(t, tr.add(t0.Add(5*time.Second)))
	assert.False(t, tr.add(t0.Add(11*time.Second)))
}

// TestIntensityIsCountedAcrossChildren checks that failures of different
// children share one count: each of these children fails only once, but the
// supervisor restarts twice within the period, which exceeds the default.
func TestIntensityIsCountedAcrossChildren(t *testing.T) {
	tests := []struct {
		name     string
		s        Strategy
		children int
		failures []int // index of the child failing, one per second
		want     []bool
	}{
		{"one_for_one, two children fail once each", OneForOne, 3, []int{0, 2}, []bool{false, true}},
		{"one_for_all restarting all children counts once", OneForAll, 5, []int{3}, []bool{false}},
		{"one_for_all, then another child fails", OneForAll, 5, []int{3, 1}, []bool{false, true}},
		{"rest_for_one, two children fail once each", RestForOne, 4, []int{1, 2}, []bool{false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr intensityTracker
			for i, failed := range tt.failures {
				require.NotEmpty(t, affected(tt.s, tt.children, failed))
				now := t0.Add(time.Duration(i) * time.Second)
				assert.Equal(t, tt.want[i], tr.add(now), "failure %d of child %d", i, failed)
			}
		})
	}
}

func TestIntensityTrackerMemoryIsBounded(t *testing.T) {
	tests := []struct {
		name     string
		in       Intensity
		wantKept int
	}{
		{"default", Intensity{}, 2},
		{"no restarts", Intensity{MaxRestarts: NoRestarts}, 1},
		{"three", Intensity{MaxRestarts: 3, Period: time.Hour}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &intensityTracker{intensity: tt.in}
			for i := range 10_000 {
				tr.add(t0.Add(time.Duration(i) * time.Millisecond))
			}
			assert.Len(t, tr.restarts, tt.wantKept)
			assert.LessOrEqual(t, cap(tr.restarts), 2*tt.wantKept+8, "the backing array does not grow")
		})
	}
}

// TestIntensityTrackerKeepsCountingPastTheLimit checks that trimming to
// MaxRestarts+1 timestamps does not change the answer: the newest ones are
// kept, so the window still holds more than MaxRestarts while restarts keep
// coming.
func TestIntensityTrackerKeepsCountingPastTheLimit(t *testing.T) {
	tr := &intensityTracker{intensity: Intensity{MaxRestarts: 2, Period: 10 * time.Second}}
	for i := range 20 {
		exceeded := tr.add(t0.Add(time.Duration(i) * time.Second))
		assert.Equal(t, i >= 2, exceeded, "restart %d", i)
	}
	// 20s after the last restart at 19s the window is empty again.
	assert.False(t, tr.add(t0.Add(30*time.Second)))
}

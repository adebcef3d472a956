package audio

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

func interleave(ports [][]float32) []float32 {
	frames := len(ports[0])
	s := make([]float32, 0, frames*len(ports))
	for i := range frames {
		for _, p := range ports {
			s = append(s, p[i])
		}
	}
	return s
}

// testRender returns frames of the three-channel test signal, interleaved.
func testRender(t *testing.T, frames int) []float32 {
	t.Helper()
	return interleave(run(t, newKernel(t, "testsignal", 8000, nil), nil, frames))
}

func TestCompare(t *testing.T) {
	const ch, frames = 3, 12000
	ref := testRender(t, frames)
	silence := make([]float32, 64*ch)
	f := func(frame int) int { return frame * ch } // sample index of a frame

	for _, tc := range []struct {
		name  string
		got   func() []float32
		want  GlitchReport
		clean bool
	}{
		{
			name:  "identical",
			got:   func() []float32 { return slices.Clone(ref) },
			want:  GlitchReport{Identical: true, FirstDiffFrame: -1, FirstDiffChannel: -1, CounterBreak: -1, LatencyKnown: true},
			clean: true,
		},
		{
			name: "one sample off by one bit",
			got: func() []float32 {
				g := slices.Clone(ref)
				g[f(100)+1] = math.Float32frombits(math.Float32bits(g[f(100)+1]) ^ 1)
				return g
			},
			want: GlitchReport{DiffSamples: 1, FirstDiffFrame: 100, FirstDiffChannel: 1, CounterBreak: -1, LatencyKnown: true},
		},
		{
			name: "a lost delay buffer shows on channel 2 only",
			got: func() []float32 {
				g := slices.Clone(ref)
				for i := 9000; i < frames; i++ {
					g[f(i)+2] = 0
				}
				return g
			},
			want: GlitchReport{DiffSamples: frames - 9000, FirstDiffFrame: 9000, FirstDiffChannel: 2, CounterBreak: -1,
				LatencyKnown: true},
		},
		{
			name: "a dropped block",
			got: func() []float32 {
				g := slices.Concat(ref[:f(640)], ref[f(704):])
				return append(g, silence...)
			},
			want: GlitchReport{DiffSamples: countDiffs(ref, slices.Concat(ref[:f(640)], ref[f(704):], silence)),
				FirstDiffFrame: 640, FirstDiffChannel: 0, CounterBreak: 640, CounterBefore: 639, CounterAt: 704,
				LatencyKnown: true},
		},
		{
			name: "late by one block",
			got:  func() []float32 { return slices.Concat(silence, ref[:len(ref)-len(silence)]) },
			want: GlitchReport{DiffSamples: countDiffs(ref, slices.Concat(silence, ref[:len(ref)-len(silence)])),
				FirstDiffFrame: 1, FirstDiffChannel: 0, CounterBreak: 1, CounterBefore: 0, CounterAt: 0,
				LatencyKnown: true, Latency: 64},
		},
		{
			name: "early by 32 frames",
			got:  func() []float32 { return slices.Concat(ref[f(32):], make([]float32, f(32))) },
			want: GlitchReport{DiffSamples: countDiffs(ref, slices.Concat(ref[f(32):], make([]float32, f(32)))),
				FirstDiffFrame: 0, FirstDiffChannel: 0, CounterBreak: frames - 32, CounterBefore: frames - 1,
				CounterAt: 0, LatencyKnown: true, Latency: -32},
		},
		{
			name: "cut short",
			got:  func() []float32 { return slices.Clone(ref[:f(frames-10)]) },
			want: GlitchReport{DiffSamples: f(10), FirstDiffFrame: frames - 10, FirstDiffChannel: 0, CounterBreak: -1,
				LatencyKnown: true},
		},
		{
			name: "counter not a whole number",
			got: func() []float32 {
				g := slices.Clone(ref)
				g[f(5)] = 5.5
				return g
			},
			want: GlitchReport{DiffSamples: 1, FirstDiffFrame: 5, FirstDiffChannel: 0, CounterBreak: 5, CounterBefore: 4,
				CounterAt: 5.5, LatencyKnown: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.got()
			r, err := Compare(ref, got, ch, CompareOptions{})
			require.NoError(t, err)
			tc.want.Channels, tc.want.ReferenceFrames, tc.want.Frames = ch, frames, len(got)/ch
			tc.want.Identical = tc.want.DiffSamples == 0
			tc.want.CounterChecked = true
			tc.want.GlitchFree = tc.clean
			assert.Equal(t, tc.want, r)
		})
	}
}

// countDiffs counts differing samples the way Compare does.
func countDiffs(a, b []float32) int {
	n := max(len(a), len(b)) - min(len(a), len(b))
	for i := range min(len(a), len(b)) {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			n++
		}
	}
	return n
}

func TestCompareCounterWraps(t *testing.T) {
	counter := []float32{counterModulus - 2, counterModulus - 1, 0, 1, 2}
	r, err := Compare(counter, counter, 1, CompareOptions{})
	require.NoError(t, err)
	assert.True(t, r.GlitchFree, "%v", r)

	// Late by 3 frames, measured across the wrap.
	late := []float32{0, 0, 0, counterModulus - 2, counterModulus - 1}
	r, err = Compare(counter, late, 1, CompareOptions{})
	require.NoError(t, err)
	assert.True(t, r.LatencyKnown)
	assert.Equal(t, 3, r.Latency)
}

func TestCompareCounterChannel(t *testing.T) {
	// Two channels, the counter on channel 1 and NaNs on channel 0, which
	// compare equal bit for bit.
	nan := float32(math.NaN())
	ref := []float32{nan, 7, nan, 8, nan, 9}
	r, err := Compare(ref, slices.Clone(ref), 2, CompareOptions{CounterChannel: 1})
	require.NoError(t, err)
	assert.True(t, r.GlitchFree, "%v", r)

	r, err = Compare(ref, []float32{nan, 7, nan, 9, nan, 10}, 2, CompareOptions{CounterChannel: 1})
	require.NoError(t, err)
	assert.Equal(t, 1, r.CounterBreak)
	assert.Equal(t, -1, r.Latency)
}

func TestCompareNoCounter(t *testing.T) {
	r, err := Compare([]float32{1, 2}, []float32{1, 3}, 2, CompareOptions{NoCounter: true})
	require.NoError(t, err)
	assert.False(t, r.CounterChecked)
	assert.False(t, r.GlitchFree)
	assert.Equal(t, "identical: no, 1 of 2 samples differ, the first at frame 0 channel 1\ncounter: not checked\n", r.String())

	r, err = Compare([]float32{1, 2}, []float32{1, 2}, 2, CompareOptions{NoCounter: true})
	require.NoError(t, err)
	assert.True(t, r.GlitchFree)
}

func TestCompareLatencyUnknown(t *testing.T) {
	r, err := Compare([]float32{5}, []float32{5}, 1, CompareOptions{})
	require.NoError(t, err)
	assert.False(t, r.LatencyKnown)
	assert.False(t, r.GlitchFree, "a counter that cannot be checked is no proof")
}

func TestCompareErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ref, got []float32
		channels int
		opts     CompareOptions
		field    string
	}{
		{"no channels", nil, nil, 0, CompareOptions{}, "channels"},
		{"reference partial frame", make([]float32, 4), make([]float32, 3), 3, CompareOptions{}, "len(reference)"},
		{"render partial frame", make([]float32, 3), make([]float32, 5), 3, CompareOptions{}, "len(got)"},
		{"counter channel missing", nil, nil, 3, CompareOptions{CounterChannel: 3}, "CounterChannel"},
		{"negative counter channel", nil, nil, 3, CompareOptions{CounterChannel: -1}, "CounterChannel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compare(tc.ref, tc.got, tc.channels, tc.opts)
			require.ErrorIs(t, err, ErrInvalidWAV)
			var fe *procbridge.SpecError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
		})
	}
}

func TestGlitchReportString(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    GlitchReport
		want string
	}{
		{
			"clean",
			GlitchReport{Channels: 3, ReferenceFrames: 96000, Frames: 96000, Identical: true, FirstDiffFrame: -1,
				FirstDiffChannel: -1, CounterChecked: true, CounterBreak: -1, LatencyKnown: true},
			"identical: yes, 96000 frames x 3 channels\ncounter: continuous\nlatency: 0 frames\n",
		},
		{
			"dropped block, short",
			GlitchReport{Channels: 3, ReferenceFrames: 96000, Frames: 95936, DiffSamples: 1000, FirstDiffFrame: 4800,
				FirstDiffChannel: 0, CounterChecked: true, CounterBreak: 4800, CounterBefore: 4799, CounterAt: 4864},
			"identical: no, 1000 of 288000 samples differ, the first at frame 4800 channel 0\n" +
				"length: 95936 frames, reference 96000\n" +
				"counter: breaks at frame 4800: 4799 then 4864\n" +
				"latency: unknown, no two consecutive counter values in both renders\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.r.String())
		})
	}
}

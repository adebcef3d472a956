package audio

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// run processes in (nil for sources) in one block from the zero state.
func run(t *testing.T, proc Processor, in [][]float32, frames int) [][]float32 {
	t.Helper()
	out := buffers(proc.Outputs(), frames)
	state := make([]byte, proc.StateSize())
	require.NoError(t, checkBuffers(proc, state, in, out))
	proc.Process(state, in, out)
	return out
}

func TestSine(t *testing.T) {
	// A quarter of the rate: the phase steps by exactly 1/4 cycle.
	out := run(t, newKernel(t, "sine", 48000, Params{"freq": 12000, "amp": 0.5}), nil, 8)[0]
	want := []float32{0, 0.5, 0, -0.5, 0, 0.5, 0, -0.5}
	assert.InDeltaSlice(t, want, out, 1e-7)

	// Any frequency: close to the closed form, far from it only by rounding.
	const rate, freq = 44100, 1234.5
	out = run(t, newKernel(t, "sine", rate, Params{"freq": freq}), nil, rate)[0]
	for i, v := range out {
		exact := math.Sin(2 * math.Pi * freq * float64(i) / rate)
		require.InDelta(t, exact, v, 1e-6, "frame %d", i)
	}
}

func TestWrapPhase(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0, 0}, {0.25, 0.25}, {1, 0}, {1.75, 0.75}, {-0.25, 0.75}, {-1e-20, 0},
		{math.NaN(), 0}, {math.Inf(1), 0}, {math.Inf(-1), 0}, {1e300, 0},
	} {
		got := wrapPhase(tc.in)
		assert.Equal(t, tc.want, got, "wrapPhase(%v)", tc.in)
	}
}

func TestGainAndMixer(t *testing.T) {
	in := [][]float32{{1, -2, 0.5}, {4, 0, -1}, {0.25, 0.25, 0.25}}
	out := run(t, newKernel(t, "gain", 48000, Params{"gain": -2}), in[:1], 3)[0]
	assert.Equal(t, []float32{-2, 4, -1}, out)

	out = run(t, newKernel(t, "gain", 48000, nil), in[:1], 3)[0]
	assert.Equal(t, in[0], out, "default gain is 1")

	mix := newKernel(t, "mixer", 48000, Params{"inputs": 3, "gain1": 0.5, "gain2": -4})
	out = run(t, mix, in, 3)[0]
	// 1*in0 + 0.5*in1 - 4*in2, frame by frame.
	assert.Equal(t, []float32{2, -3, -1}, out)
}

func TestDelay(t *testing.T) {
	const d, frames = 37, 200
	in := noise(1, frames)
	out := run(t, newKernel(t, "delay", 48000, Params{"samples": d}), in, frames)[0]
	for i := range frames {
		want := float32(0)
		if i >= d {
			want = in[0][i-d]
		}
		require.Equal(t, want, out[i], "frame %d", i)
	}
}

// amplitude returns the amplitude of the freq component of x, which holds a
// whole number of its cycles.
func amplitude(x []float32, freq, rate float64) float64 {
	var s, c float64
	for i, v := range x {
		w := 2 * math.Pi * freq * float64(i) / rate
		s += float64(v) * math.Sin(w)
		c += float64(v) * math.Cos(w)
	}
	return 2 * math.Hypot(s, c) / float64(len(x))
}

func TestBiquadResponse(t *testing.T) {
	const rate = 48000
	db := func(g float64) float64 { return math.Pow(10, g/20) }
	for _, tc := range []struct {
		name   string
		kind   string
		params Params
		freq   float64 // of the test tone
		gain   float64 // expected linear gain at freq
	}{
		{"lowpass passes low", "lowpass", Params{"freq": 1000}, 50, 1},
		{"lowpass -3 dB at corner", "lowpass", Params{"freq": 1000}, 1000, math.Sqrt2 / 2},
		{"lowpass gain Q at corner", "lowpass", Params{"freq": 1000, "q": 4}, 1000, 4},
		{"lowpass stops high", "lowpass", Params{"freq": 100}, 10000, 0},
		{"highpass passes high", "highpass", Params{"freq": 200}, 12000, 1},
		{"highpass -3 dB at corner", "highpass", Params{"freq": 200}, 200, math.Sqrt2 / 2},
		{"highpass stops low", "highpass", Params{"freq": 5000}, 20, 0},
		{"bandpass 0 dB at centre", "bandpass", Params{"freq": 2000, "q": 5}, 2000, 1},
		{"bandpass 6 dB/octave skirt", "bandpass", Params{"freq": 2000, "q": 5}, 20, 20.0 / 2000 / 5},
		{"peak boosts at centre", "peak", Params{"freq": 3000, "gain_db": 6}, 3000, db(6)},
		{"peak cuts at centre", "peak", Params{"freq": 3000, "gain_db": -12, "q": 2}, 3000, db(-12)},
		{"peak flat far away", "peak", Params{"freq": 3000, "gain_db": 6, "q": 4}, 30, 1},
		{"peak of 0 dB is flat", "peak", Params{"freq": 3000}, 3000, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tone := run(t, newKernel(t, "sine", rate, Params{"freq": tc.freq}), nil, 2*rate)
			out := run(t, newKernel(t, tc.kind, rate, tc.params), tone, 2*rate)[0]
			// The second second: settled, and a whole number of cycles.
			got := amplitude(out[rate:], tc.freq, rate)
			assert.InDelta(t, tc.gain, got, 0.01*max(tc.gain, 0.1))
		})
	}
}

func TestTestSignal(t *testing.T) {
	const rate, frames = 8000, 20000
	out := run(t, newKernel(t, "testsignal", rate, nil), nil, frames)
	tone := run(t, newKernel(t, "sine", rate, Params{"freq": testSignalFreq, "amp": testSignalAmp}), nil, frames)[0]

	var peak float32
	for i := range frames {
		require.Equal(t, float32(i), out[0][i], "counter at frame %d", i)
		require.Equal(t, math.Float32bits(tone[i]), math.Float32bits(out[1][i]), "tone at frame %d", i)
		var delayed float32
		if i >= rate {
			delayed = out[1][i-rate]
		}
		require.Equal(t, math.Float32bits(delayed), math.Float32bits(out[2][i]), "delayed tone at frame %d", i)
		peak = max(peak, out[1][i])
	}
	assert.InDelta(t, testSignalAmp, peak, 1e-3)
	assert.InDelta(t, 0.5011872336, math.Pow(10, -6.0/20), 1e-9, "-6 dBFS")
}

func TestTestSignalCounterWraps(t *testing.T) {
	proc := newKernel(t, "testsignal", 48000, nil)
	state := make([]byte, proc.StateSize())
	putU64(state, 3*counterModulus-2) // the third wrap is coming
	out := buffers(3, 4)
	proc.Process(state, nil, out)
	assert.Equal(t, []float32{counterModulus - 2, counterModulus - 1, 0, 1}, out[0])
	assert.Equal(t, uint64(3*counterModulus+2), getU64(state), "frames produced")
}

package audio

import "math"

// sineKind: a sine oscillator, no input, one output.
//
// State (8 bytes): [0:8] phase, float64, in cycles, in [0, 1).
var sineKind = Kind{
	Name: "sine",
	Doc:  "sine oscillator: amp*sin(2π·phase), phase advancing freq/rate cycles a frame",
	Params: []ParamSpec{
		{Name: "freq", Doc: "frequency in Hz, above 0 and below rate/2", Min: 0, Max: math.MaxFloat64, Required: true},
		{Name: "amp", Doc: "peak amplitude, linear", Min: 0, Max: 1, Default: 1},
	},
	New: func(rate int, p Params) (Processor, error) {
		if err := checkFreq("sine", rate, p["freq"]); err != nil {
			return nil, err
		}
		return sine{newOsc(rate, p["freq"], p["amp"])}, nil
	},
}

type sine struct{ osc osc }

func (sine) Inputs() int    { return 0 }
func (sine) Outputs() int   { return 1 }
func (sine) StateSize() int { return 8 }

func (s sine) Process(state []byte, _, out [][]float32) {
	putF64(state, s.osc.run(getF64(state), out[0]))
}

// osc is the sine oscillator shared by sine and the test signal. The phase is
// kept in cycles rather than radians so that wrapping it is exact, and as a
// float64 so that it carries no audible drift over hours.
type osc struct {
	inc float64 // cycles per frame, in (0, 0.5)
	amp float64
}

func newOsc(rate int, freq, amp float64) osc {
	return osc{inc: freq / float64(rate), amp: amp}
}

// run writes amp*sin(2π·phase) for each frame of out, advancing the phase,
// and returns the phase after the last frame.
func (o osc) run(phase float64, out []float32) float64 {
	phase = wrapPhase(phase)
	for i := range out {
		out[i] = float32(o.amp * math.Sin(2*math.Pi*phase))
		phase += o.inc
		if phase >= 1 {
			phase--
		}
	}
	return phase
}

// wrapPhase maps a phase read from untrusted state into [0, 1). Phases that
// run produces are already there and pass unchanged, so wrapping never
// breaks determinism; NaN and infinities become 0.
func wrapPhase(p float64) float64 {
	if p >= 0 && p < 1 {
		return p
	}
	p -= math.Floor(p)
	if !(p >= 0 && p < 1) {
		return 0
	}
	return p
}

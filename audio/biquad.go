package audio

import "math"

// biquadShape selects one of the RBJ Audio EQ Cookbook responses.
type biquadShape int

const (
	lowpass  biquadShape = iota // 12 dB/octave above freq
	highpass                    // 12 dB/octave below freq
	bandpass                    // constant 0 dB peak gain at freq
	peak                        // gain_db at freq, 0 dB far from it
)

var biquadShapes = [...]struct{ name, doc string }{
	lowpass:  {"lowpass", "RBJ cookbook second-order lowpass"},
	highpass: {"highpass", "RBJ cookbook second-order highpass"},
	bandpass: {"bandpass", "RBJ cookbook second-order bandpass, 0 dB peak gain"},
	peak:     {"peak", "RBJ cookbook peaking EQ: gain_db at freq"},
}

// biquadKind returns the kind for one shape: one input, one output.
//
// State (16 bytes): [0:8] z1, [8:16] z2, float64: the memory of a transposed
// direct form II section, which needs two words where direct form I needs
// four and keeps its memory in float64.
func biquadKind(shape biquadShape) Kind {
	params := []ParamSpec{
		{Name: "freq", Doc: "centre or corner frequency in Hz, above 0 and below rate/2", Min: 0, Max: math.MaxFloat64, Required: true},
		{Name: "q", Doc: "quality factor", Min: 0.1, Max: 100, Default: math.Sqrt2 / 2},
	}
	if shape == peak {
		params = append(params, ParamSpec{Name: "gain_db", Doc: "gain at freq in dB", Min: -48, Max: 48, Default: 0})
	}
	name := biquadShapes[shape].name
	return Kind{
		Name:   name,
		Doc:    biquadShapes[shape].doc,
		Params: params,
		New: func(rate int, p Params) (Processor, error) {
			if err := checkFreq(name, rate, p["freq"]); err != nil {
				return nil, err
			}
			return newBiquad(shape, float64(rate), p["freq"], p["q"], p["gain_db"]), nil
		},
	}
}

// biquad is a second-order IIR section with coefficients normalised by a0.
type biquad struct{ b0, b1, b2, a1, a2 float64 }

// newBiquad computes the coefficients from the RBJ Audio EQ Cookbook.
func newBiquad(shape biquadShape, rate, freq, q, gainDB float64) biquad {
	w0 := 2 * math.Pi * freq / rate
	cosw, sinw := math.Cos(w0), math.Sin(w0)
	alpha := sinw / (2 * q)
	var b0, b1, b2, a0, a1, a2 float64
	a0, a1, a2 = 1+alpha, -2*cosw, 1-alpha
	switch shape {
	case lowpass:
		b0, b1, b2 = (1-cosw)/2, 1-cosw, (1-cosw)/2
	case highpass:
		b0, b1, b2 = (1+cosw)/2, -(1 + cosw), (1+cosw)/2
	case bandpass:
		b0, b1, b2 = alpha, 0, -alpha
	case peak:
		a := math.Pow(10, gainDB/40)
		b0, b1, b2 = 1+alpha*a, -2*cosw, 1-alpha*a
		a0, a2 = 1+alpha/a, 1-alpha/a
	}
	return biquad{b0: b0 / a0, b1: b1 / a0, b2: b2 / a0, a1: a1 / a0, a2: a2 / a0}
}

func (biquad) Inputs() int    { return 1 }
func (biquad) Outputs() int   { return 1 }
func (biquad) StateSize() int { return 16 }

func (f biquad) Process(state []byte, in, out [][]float32) {
	z1, z2 := getF64(state[0:8]), getF64(state[8:16])
	x := in[0]
	y := out[0][:len(x)]
	for i := range x {
		xi := float64(x[i])
		yi := f.b0*xi + z1
		z1 = f.b1*xi - f.a1*yi + z2
		z2 = f.b2*xi - f.a2*yi
		y[i] = float32(yi)
	}
	putF64(state[0:8], z1)
	putF64(state[8:16], z2)
}

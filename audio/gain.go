package audio

// gainKind: one input scaled by a constant. Stateless.
var gainKind = Kind{
	Name: "gain",
	Doc:  "multiplies its input by gain",
	Params: []ParamSpec{
		{Name: "gain", Doc: "linear factor; negative inverts", Min: -maxGain, Max: maxGain, Default: 1},
	},
	New: func(_ int, p Params) (Processor, error) {
		return gain{g: p["gain"]}, nil
	},
}

// maxGain bounds the gain parameters of gain and mixer (±24 dB).
const maxGain = 16

type gain struct{ g float64 }

func (gain) Inputs() int    { return 1 }
func (gain) Outputs() int   { return 1 }
func (gain) StateSize() int { return 0 }

func (g gain) Process(_ []byte, in, out [][]float32) {
	x := in[0]
	y := out[0][:len(x)]
	for i := range x {
		y[i] = float32(g.g * float64(x[i]))
	}
}

package audio

import "strconv"

// maxMixerInputs is the most inputs a mixer takes.
const maxMixerInputs = 64

// mixerKind: N inputs, each scaled by its own gain, summed into one output.
// Stateless. The parameters gain0 … gain63 exist for every mixer; a mixer
// rejects those at or past its number of inputs.
func mixerKind() Kind {
	params := []ParamSpec{{
		Name: "inputs", Doc: "number of inputs", Min: 1, Max: maxMixerInputs, Required: true, Integer: true,
	}}
	for i := range maxMixerInputs {
		params = append(params, ParamSpec{
			Name: mixerGain(i), Doc: "linear gain of input " + strconv.Itoa(i),
			Min: -maxGain, Max: maxGain, Default: 1,
		})
	}
	return Kind{
		Name:   "mixer",
		Doc:    "sums its inputs, input i scaled by gain<i>",
		Params: params,
		Check:  checkMixer,
		New:    newMixer,
	}
}

func mixerGain(i int) string { return "gain" + strconv.Itoa(i) }

// checkMixer rejects a gain for an input the mixer does not have.
func checkMixer(given Params) error {
	n := int(given["inputs"])
	for i := n; i < maxMixerInputs; i++ {
		if g, ok := given[mixerGain(i)]; ok {
			return fieldErr(ErrInvalidGraph, mixerGain(i), g, "no such input (inputs = %d)", n)
		}
	}
	return nil
}

func newMixer(_ int, p Params) (Processor, error) {
	m := mixer{gains: make([]float64, int(p["inputs"]))}
	for i := range m.gains {
		m.gains[i] = p[mixerGain(i)]
	}
	return m, nil
}

type mixer struct{ gains []float64 }

func (m mixer) Inputs() int  { return len(m.gains) }
func (mixer) Outputs() int   { return 1 }
func (mixer) StateSize() int { return 0 }

// Process sums in float64, inputs in port order, and rounds once to float32.
func (m mixer) Process(_ []byte, in, out [][]float32) {
	y := out[0]
	in = in[:len(m.gains)]
	for i := range y {
		var s float64
		for k, g := range m.gains {
			s += g * float64(in[k][i])
		}
		y[i] = float32(s)
	}
}

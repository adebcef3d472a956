package audio

// The test signal, the reference input of glitch tests. Its three channels:
//
//	0: the frame counter, n mod counterModulus, as float32 (exact: every
//	   integer below 2^24 is a float32)
//	1: a testSignalFreq sine at testSignalAmp (-6 dBFS)
//	2: channel 1 through a one-second delay line
//
// Channel 0 shows a skipped or repeated block at a glance; channel 1 a
// phase jump; channel 2 a lost delay buffer, a second after the fact.
const (
	counterModulus = 1 << 24
	testSignalFreq = 997.0     // Hz; prime, so its period never lines up with a block
	testSignalAmp  = 0.5011872 // -6 dBFS
)

// testSignalKind: no input, three outputs. It runs at rates above
// 2*testSignalFreq and up to maxDelaySamples (its delay is one second).
//
// State (20 + 4*rate bytes): [0:8] frames produced, uint64; [8:16] the
// sine's phase, float64, in cycles; [16:] a delay line of rate frames (see
// delayKind).
var testSignalKind = Kind{
	Name: "testsignal",
	Doc:  "test signal: 0 frame counter mod 2^24, 1 997 Hz sine at -6 dBFS, 2 channel 1 delayed one second",
	New: func(rate int, _ Params) (Processor, error) {
		if rate <= 2*testSignalFreq || rate > maxDelaySamples {
			return nil, fieldErr(ErrInvalidGraph, "rate", rate,
				"must be above %g and at most maxDelaySamples = %d", 2*testSignalFreq, maxDelaySamples)
		}
		return testSignal{osc: newOsc(rate, testSignalFreq, testSignalAmp), line: delayLine{n: rate}}, nil
	},
}

type testSignal struct {
	osc  osc
	line delayLine
}

func (testSignal) Inputs() int      { return 0 }
func (testSignal) Outputs() int     { return 3 }
func (t testSignal) StateSize() int { return 16 + t.line.stateSize() }

func (t testSignal) Process(state []byte, _, out [][]float32) {
	n := getU64(state[0:8])
	counter := out[0]
	for i := range counter {
		counter[i] = float32(n % counterModulus)
		n++
	}
	putU64(state[0:8], n)
	putF64(state[8:16], t.osc.run(getF64(state[8:16]), out[1]))
	t.line.run(state[16:], out[1], out[2])
}

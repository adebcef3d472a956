package audio

// maxDelaySamples is the longest delay line: one second at 192 kHz (four at
// 48 kHz). Its state is 4 + 4*maxDelaySamples bytes.
const maxDelaySamples = 192000

// delayKind: a pure delay of a whole number of frames.
//
// State (4 + 4*samples bytes): [0:4] write position, uint32, in
// [0, samples); [4:] the ring of the last samples inputs, float32, the
// oldest at the write position.
var delayKind = Kind{
	Name: "delay",
	Doc:  "delays its input by samples frames; the whole delay buffer is state",
	Params: []ParamSpec{
		{Name: "samples", Doc: "delay in frames", Min: 1, Max: maxDelaySamples, Required: true, Integer: true},
	},
	New: func(_ int, p Params) (Processor, error) {
		return delay{line: delayLine{n: int(p["samples"])}}, nil
	},
}

type delay struct{ line delayLine }

func (delay) Inputs() int      { return 1 }
func (delay) Outputs() int     { return 1 }
func (d delay) StateSize() int { return d.line.stateSize() }

func (d delay) Process(state []byte, in, out [][]float32) {
	d.line.run(state, in[0], out[0])
}

// delayLine is the ring buffer shared by delay and the test signal, kept in
// state bytes (layout above) and updated in place one sample at a time.
type delayLine struct{ n int } // the delay in frames, at least 1

func (d delayLine) stateSize() int { return 4 + 4*d.n }

// run writes in, delayed by d.n frames, to out. A write position out of
// range (never written by run) is wrapped into range.
func (d delayLine) run(state []byte, in, out []float32) {
	ring := state[4 : 4+4*d.n]
	pos := int(getU32(state) % uint32(d.n))
	out = out[:len(in)]
	for i, x := range in {
		b := ring[4*pos : 4*pos+4]
		out[i] = getF32(b)
		putF32(b, x)
		if pos++; pos == d.n {
			pos = 0
		}
	}
	putU32(state, uint32(pos))
}

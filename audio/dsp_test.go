package audio

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

// kernelCases builds one processor of every built-in kind, some twice.
var kernelCases = []struct {
	name   string
	kind   string
	rate   int
	params Params
}{
	{"sine", "sine", 48000, Params{"freq": 440, "amp": 0.8}},
	{"sine near Nyquist", "sine", 44100, Params{"freq": 22000}},
	{"gain", "gain", 48000, Params{"gain": -0.5}},
	{"mixer", "mixer", 48000, Params{"inputs": 3, "gain0": 0.5, "gain2": -2}},
	{"delay", "delay", 48000, Params{"samples": 100}},
	{"delay of one", "delay", 48000, Params{"samples": 1}},
	{"lowpass", "lowpass", 48000, Params{"freq": 1000}},
	{"highpass", "highpass", 48000, Params{"freq": 5000, "q": 2}},
	{"bandpass", "bandpass", 48000, Params{"freq": 2000, "q": 10}},
	{"peak", "peak", 48000, Params{"freq": 3000, "q": 1, "gain_db": 6}},
	{"testsignal", "testsignal", 8000, nil},
}

func newKernel(t testing.TB, kind string, rate int, p Params) Processor {
	t.Helper()
	proc, err := defaultKinds.build(kind, rate, p)
	require.NoError(t, err)
	return proc
}

// noise returns deterministic inputs in [-1, 1): one slice per port.
func noise(ports, frames int) [][]float32 {
	in := make([][]float32, ports)
	for k := range in {
		r := rand.New(rand.NewPCG(1, uint64(k)))
		in[k] = make([]float32, frames)
		for i := range in[k] {
			in[k][i] = 2*r.Float32() - 1
		}
	}
	return in
}

func buffers(ports, frames int) [][]float32 {
	b := make([][]float32, ports)
	for k := range b {
		b[k] = make([]float32, frames)
	}
	return b
}

func window(bufs [][]float32, from, to int) [][]float32 {
	w := make([][]float32, len(bufs))
	for k := range bufs {
		w[k] = bufs[k][from:to]
	}
	return w
}

// renderBlocks runs a fresh processor over in in blocks of the given sizes
// (cycled), as a primary that fails over after every block would: the state
// is committed to a new buffer at an odd offset, and a new Processor built
// alike resumes from it.
func renderBlocks(t *testing.T, kind string, rate int, p Params, in [][]float32, frames int, sizes []int) [][]float32 {
	t.Helper()
	proc := newKernel(t, kind, rate, p)
	out := buffers(proc.Outputs(), frames)
	state := make([]byte, proc.StateSize())
	for pos, b := 0, 0; pos < frames; b++ {
		n := min(sizes[b%len(sizes)], frames-pos)
		blockIn, blockOut := window(in, pos, pos+n), window(out, pos, pos+n)
		require.NoError(t, checkBuffers(proc, state, blockIn, blockOut))
		proc.Process(state, blockIn, blockOut)
		pos += n

		committed := make([]byte, len(state)+3)[3:] // unaligned on purpose
		copy(committed, state)
		state = committed
		proc = newKernel(t, kind, rate, p)
	}
	return out
}

func requireBitIdentical(t *testing.T, want, got [][]float32) {
	t.Helper()
	require.Len(t, got, len(want))
	for k := range want {
		require.Len(t, got[k], len(want[k]))
		for i := range want[k] {
			if math.Float32bits(want[k][i]) != math.Float32bits(got[k][i]) {
				require.Failf(t, "outputs differ", "port %d frame %d: want %v, got %v", k, i, want[k][i], got[k][i])
			}
		}
	}
}

func TestKernelsDeterministic(t *testing.T) {
	const frames = 20000
	for _, tc := range kernelCases {
		t.Run(tc.name, func(t *testing.T) {
			proc := newKernel(t, tc.kind, tc.rate, tc.params)
			in := noise(proc.Inputs(), frames)
			start := make([]byte, proc.StateSize())

			// The same state and input give the same output and state.
			var outs [2][][]float32
			var ends [2][]byte
			for run := range outs {
				outs[run] = buffers(proc.Outputs(), frames)
				ends[run] = append([]byte(nil), start...)
				proc.Process(ends[run], in, outs[run])
			}
			requireBitIdentical(t, outs[0], outs[1])
			assert.Equal(t, ends[0], ends[1])
			requireNotSilent(t, outs[0])

			// Block by block with a state round trip equals one call.
			for _, sizes := range [][]int{{1}, {64}, {128, 7, 0, 333}, {4096, 1, 17}} {
				got := renderBlocks(t, tc.kind, tc.rate, tc.params, in, frames, sizes)
				requireBitIdentical(t, outs[0], got)
			}
		})
	}
}

func requireNotSilent(t *testing.T, out [][]float32) {
	t.Helper()
	for k := range out {
		nonzero := 0
		for _, v := range out[k] {
			if v != 0 {
				nonzero++
			}
		}
		require.Positive(t, nonzero, "port %d is silent", k)
	}
}

func TestKernelsDoNotAllocate(t *testing.T) {
	for _, tc := range kernelCases {
		t.Run(tc.name, func(t *testing.T) {
			proc := newKernel(t, tc.kind, tc.rate, tc.params)
			state := make([]byte, proc.StateSize())
			in, out := noise(proc.Inputs(), 128), buffers(proc.Outputs(), 128)
			allocs := testing.AllocsPerRun(100, func() { proc.Process(state, in, out) })
			assert.Zero(t, allocs)
		})
	}
}

func TestCheckBuffers(t *testing.T) {
	mix := newKernel(t, "mixer", 48000, Params{"inputs": 2})
	del := newKernel(t, "delay", 48000, Params{"samples": 10})
	for _, tc := range []struct {
		name    string
		proc    Processor
		state   []byte
		in, out [][]float32
		field   string // "" when valid
	}{
		{"valid", mix, nil, buffers(2, 64), buffers(1, 64), ""},
		{"valid empty block", del, make([]byte, 44), buffers(1, 0), buffers(1, 0), ""},
		{"short state", del, make([]byte, 43), buffers(1, 64), buffers(1, 64), "len(state)"},
		{"too few inputs", mix, nil, buffers(1, 64), buffers(1, 64), "len(in)"},
		{"no outputs", mix, nil, buffers(2, 64), nil, "len(out)"},
		{"short input", mix, nil, [][]float32{make([]float32, 64), make([]float32, 63)}, buffers(1, 64), "in[1] length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBuffers(tc.proc, tc.state, tc.in, tc.out)
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, errShape)
			var fe *procbridge.SpecError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
		})
	}
}

// FuzzProcessState feeds every kernel arbitrary state bytes, as a corrupt
// or hostile peer might leave in shared memory: Process must not panic, and
// must still be deterministic.
func FuzzProcessState(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(0), []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}) // NaN phase
	f.Add(uint8(0), []byte{0, 0, 0, 0, 0, 0, 0xf0, 0xff}) // -Inf phase
	f.Add(uint8(4), []byte{0xff, 0xff, 0xff, 0xff})       // write position far out of range
	f.Add(uint8(10), []byte{0xfe, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f, 0x40, 0x1f})
	procs := make([]Processor, len(kernelCases))
	for i, tc := range kernelCases {
		procs[i] = newKernel(f, tc.kind, tc.rate, tc.params)
	}
	f.Fuzz(func(t *testing.T, which uint8, seed []byte) {
		proc := procs[int(which)%len(procs)]
		start := make([]byte, proc.StateSize())
		for i := 0; len(seed) > 0 && i < len(start); i += len(seed) {
			copy(start[i:], seed)
		}
		in := noise(proc.Inputs(), 64)
		var outs [2][][]float32
		for run := range outs {
			state := append([]byte(nil), start...)
			outs[run] = buffers(proc.Outputs(), 64)
			proc.Process(state, in, outs[run])
		}
		requireBitIdentical(t, outs[0], outs[1])
	})
}

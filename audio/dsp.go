package audio

import (
	"encoding/binary"
	"math"
	"strconv"
)

// A Processor is one DSP kernel, built by a [Kind] for a sample rate and a set
// of parameters. Its parameters are fixed when it is built; everything that
// changes from block to block lives in the state it is handed, so that a
// standby process holding an equal Processor can take over from the last
// committed state and go on bit for bit.
//
// The rules of Process:
//
//   - state has length StateSize(). It is the state as of the start of the
//     block; Process updates it in place to the state as of the end. All
//     zero bytes are the initial state of every kernel in this package, so
//     a fresh (zero-filled) shared-memory slot starts a node at silence,
//     phase 0 and sample 0. The caller double-buffers: it processes on a
//     working copy and commits that copy only after Process returns.
//   - in has Inputs() slices and out has Outputs() slices, all of the same
//     length: the block's frame count, which may be any number including 0.
//     Output slices must not overlap each other or any input.
//   - Deterministic: the output and the new state depend only on the state,
//     the input and the Processor's kind, rate and parameters. Processing a
//     stream in one call, or in blocks of any sizes with the state copied to
//     a new buffer (or handed to another Processor built alike) between
//     blocks, gives bit-identical output. This holds for one binary on one
//     architecture, which is what a primary and its standby are; across
//     architectures math.Sin and fused multiply-adds may differ in the last
//     bit.
//   - No allocation, no system call, no goroutine, no lock.
//   - Any state bytes at all are accepted without a panic, since state is
//     read from shared memory a peer wrote: an out-of-range position or phase
//     is wrapped back into range.
//   - Process panics, like an out-of-range slice index, when the buffers
//     break these rules; check them once with [checkBuffers] when they are
//     set up, not on every block.
//
// # State encoding
//
// State is encoded little-endian with [encoding/binary] and
// [math.Float64bits]/[math.Float32bits]: float64 values (phases, filter
// memory) take 8 bytes, float32 samples and uint32 positions 4 bytes, at
// the byte offsets each kernel documents. Decoding this way needs no
// alignment (a state slot may start at any offset of a shared-memory
// segment), is the same on every machine, and compiles to plain loads and
// stores on little-endian machines. An unsafe []float32 view would need
// aligned slots and would tie the layout to the host's byte order, for a
// saving of nanoseconds per block against a block period of milliseconds
// (2.7 ms for 128 frames at 48 kHz).
type Processor interface {
	// Inputs returns the number of input ports, each one mono channel.
	Inputs() int
	// Outputs returns the number of output ports, each one mono channel.
	Outputs() int
	// StateSize returns the length in bytes of the state Process takes.
	StateSize() int
	// Process computes one block; see the rules above.
	Process(state []byte, in, out [][]float32)
}

// checkBuffers reports, with an error wrapping [errShape], whether state, in
// and out break the rules of [Processor] Process for p: the wrong state
// length, the wrong number of inputs or outputs, or slices of unequal length.
func checkBuffers(p Processor, state []byte, in, out [][]float32) error {
	if len(state) != p.StateSize() {
		return fieldErr(errShape, "len(state)", len(state), "want StateSize() = %d", p.StateSize())
	}
	if len(in) != p.Inputs() {
		return fieldErr(errShape, "len(in)", len(in), "want Inputs() = %d", p.Inputs())
	}
	if len(out) != p.Outputs() {
		return fieldErr(errShape, "len(out)", len(out), "want Outputs() = %d", p.Outputs())
	}
	frames := -1
	check := func(name string, bufs [][]float32) error {
		for i, b := range bufs {
			if frames < 0 {
				frames = len(b)
			}
			if len(b) != frames {
				return fieldErr(errShape, name+"["+strconv.Itoa(i)+"] length", len(b),
					"want %d frames like the other ports", frames)
			}
		}
		return nil
	}
	if err := check("out", out); err != nil {
		return err
	}
	return check("in", in)
}

// Little-endian accessors for state bytes. Each takes the slice starting at
// the value, so the bounds check is the caller's slicing.

func getF64(b []byte) float64    { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }
func putF64(b []byte, v float64) { binary.LittleEndian.PutUint64(b, math.Float64bits(v)) }
func getF32(b []byte) float32    { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }
func putF32(b []byte, v float32) { binary.LittleEndian.PutUint32(b, math.Float32bits(v)) }
func getU32(b []byte) uint32     { return binary.LittleEndian.Uint32(b) }
func putU32(b []byte, v uint32)  { binary.LittleEndian.PutUint32(b, v) }
func getU64(b []byte) uint64     { return binary.LittleEndian.Uint64(b) }
func putU64(b []byte, v uint64)  { binary.LittleEndian.PutUint64(b, v) }

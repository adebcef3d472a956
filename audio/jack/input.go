package jack

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/understudy/understudy/audio"
)

// The jack_in kind brings JACK input ports into a graph. Start registers
// one JACK input port per port of each jack_in node (named node.in0,
// node.in1, ...), and the client's process callback copies them, each
// period, into a ring of blocks in a shared file that the node processes
// map: block C of the inputs before cycle C starts. A jack_in node reads
// block C from the ring, so that a spare recomputing it reads the same
// samples. A period whose inputs may not be its own (the callback ran
// late, after the server began the next period, or the server ran a period
// without it) leaves its slot empty, and the node plays silence for that
// block rather than the inputs a period late: the input's latency never
// moves. Offline (Render, understudy render) and in a node restarted cold
// (its block count lost), it plays silence.
//
// Ring layout: inSlots slots of inStride(total, frames) bytes, each [0:8]
// the cycle it holds (little-endian, written last), [64:] the block of
// every input port in turn, float32.
const (
	inKind  = "jack_in"
	inSlots = 64 // as the output ring: a power of two
	// inPrefix is the ring file's name in /dev/shm, before its id.
	inPrefix = "/dev/shm/understudy-jack-in-"
	maxInput = 64 // ports per jack_in node
)

func inStride(total, frames int) int { return (64 + total*frames*4 + 63) &^ 63 }

func init() {
	audio.RegisterKind(audio.Kind{
		Name: inKind,
		Doc:  "JACK input ports, played through jack.Start (silence offline)",
		Params: []audio.ParamSpec{
			{Name: "ports", Doc: "JACK input ports, one output each", Min: 1, Max: maxInput, Default: 1, Integer: true},
			{Name: "ring", Doc: "set by jack.Start: the ring's id", Min: 0, Max: 1 << 52, Integer: true},
			{Name: "first", Doc: "set by jack.Start: this node's first port in the ring", Min: 0, Max: 1 << 20, Integer: true},
			{Name: "total", Doc: "set by jack.Start: the ring's ports", Min: 0, Max: 1 << 20, Integer: true},
		},
		New: func(_ int, p audio.Params) (audio.Processor, error) {
			in := jackIn{ports: int(p["ports"]), first: int(p["first"]), total: int(p["total"])}
			if p["ring"] == 0 {
				return in, nil
			}
			if in.first+in.ports > in.total {
				return nil, fmt.Errorf("jack_in: ports %d from %d past the ring's %d", in.ports, in.first, in.total)
			}
			ring, err := mapRing(fmt.Sprintf("%s%d", inPrefix, int64(p["ring"])))
			if err != nil {
				return nil, fmt.Errorf("jack_in: the input ring: %w", err)
			}
			in.ring = ring
			return in, nil
		},
	})
}

type jackIn struct {
	ports, first, total int
	ring                []byte // nil: silence
}

func (j jackIn) Inputs() int    { return 0 }
func (j jackIn) Outputs() int   { return j.ports }
func (j jackIn) StateSize() int { return 8 }

// Process plays block n+1 of the ring, n the blocks it played before (its
// state): the engine's cycles count from 1.
func (j jackIn) Process(state []byte, _, out [][]float32) {
	n := binary.LittleEndian.Uint64(state) + 1
	binary.LittleEndian.PutUint64(state, n)
	frames := len(out[0])
	stride := inStride(j.total, frames)
	off := int(n%inSlots) * stride
	if j.ring == nil || off+stride > len(j.ring) ||
		atomic.LoadUint64((*uint64)(unsafe.Pointer(&j.ring[off]))) != n {
		for _, o := range out {
			clear(o)
		}
		return
	}
	for i, o := range out {
		at := off + 64 + (j.first+i)*frames*4
		copy(o, unsafe.Slice((*float32)(unsafe.Pointer(&j.ring[at])), frames))
	}
	if atomic.LoadUint64((*uint64)(unsafe.Pointer(&j.ring[off]))) != n {
		// The slot was taken for a later block while it was read: this
		// one is long gone.
		for _, o := range out {
			clear(o)
		}
	}
}

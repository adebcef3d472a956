package audio

import "fmt"

// Render runs g for the given number of blocks in this process, node after
// node in a topological order with no processes and no faults, and returns
// the blocks of the sink ports interleaved (one channel per port, in the
// order given). Fan-in sums in edge order, as an [Engine] does, so a
// glitch-free engine run of the same graph is bit-identical to it: it is
// the reference for [Compare]. A node of kind exec runs its executable
// here too, as a child process fed block by block (Node.Path).
func Render(g *Graph, sink []Port, blocks int) (_ []float32, err error) {
	t, err := newTopology(g)
	if err != nil {
		return nil, err
	}
	sinks, err := t.resolveSink(sink)
	if err != nil {
		return nil, err
	}
	if blocks < 0 {
		return nil, fieldErr(ErrInvalidGraph, "blocks", blocks, "must not be negative")
	}
	for i, p := range t.procs {
		x, ok := p.(*execProc)
		if !ok {
			continue
		}
		if x.co, err = startCoproc(x); err != nil {
			return nil, fmt.Errorf("audio: render: node %q: %w", t.names[i], err)
		}
		defer func() {
			if cerr := x.co.close(); cerr != nil && err == nil {
				err = fmt.Errorf("audio: render: node %q: %w", t.names[i], cerr)
			}
			x.co = nil
		}()
	}
	bs := t.blockSize
	states := make([][]byte, len(t.procs))
	outs := make([][][]float32, len(t.procs))
	ins := make([][][]float32, len(t.procs))
	mix := make([][][]float32, len(t.procs))
	for i, p := range t.procs {
		states[i] = make([]byte, p.StateSize())
		outs[i] = make([][]float32, p.Outputs())
		for k := range outs[i] {
			outs[i][k] = make([]float32, bs)
		}
		ins[i] = make([][]float32, p.Inputs())
		mix[i] = make([][]float32, p.Inputs())
		for k := range mix[i] {
			mix[i][k] = make([]float32, bs)
		}
	}
	var scratch [][]float32
	out := make([]float32, 0, blocks*bs*len(sinks))
	for range blocks {
		for _, i := range t.order {
			for k, srcs := range t.inputs[i] {
				scratch = scratch[:0]
				for _, s := range srcs {
					scratch = append(scratch, outs[s.node][s.port])
				}
				switch len(scratch) {
				case 0:
					clear(mix[i][k])
					ins[i][k] = mix[i][k]
				case 1:
					ins[i][k] = scratch[0]
				default:
					mixInto(mix[i][k], scratch)
					ins[i][k] = mix[i][k]
				}
			}
			t.procs[i].Process(states[i], ins[i], outs[i])
		}
		for f := range bs {
			for _, s := range sinks {
				out = append(out, outs[s.node][s.port][f])
			}
		}
	}
	return out, nil
}

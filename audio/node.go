package audio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"

	"github.com/understudy/understudy/audio/internal/bus"
	"github.com/understudy/understudy/procbridge/worker"
)

// NodeWorker is the name under which this package registers the worker that
// runs one node of an [Engine] (procbridge/worker.Register). A program that
// starts an Engine calls worker.Main first thing in main, or in TestMain,
// since the node processes are that program re-executed.
const NodeWorker = "understudy-audio-node"

func init() { worker.Register(NodeWorker, runNode) }

// stateHeader is the part of a node's committed state before the kernel's:
// [0:8] the cycle whose block the state follows (0: none yet), [8:12] the
// lane whose outputs hold that block.
const stateHeader = 16

// errFenced: this process is no longer the node's primary.
var errFenced = errors.New("audio: node fenced")

// nodeProc is one node process: its kernel, its view of the bus, and the
// buffers its loop reuses, all made before it says it is ready.
type nodeProc struct {
	w      *worker.Worker
	b      *bus.Bus
	t      *topology
	me     bus.Node
	lane   bus.LaneRecord
	myLane int
	lanes  int
	proc   Processor

	state  []byte // stateHeader + the kernel's state: the working copy
	kstate []byte // state[stateHeader:]
	srcs   [][]src
	ins    [][]float32
	mix    [][]float32 // per input, the sum of a fan-in
	views  [][]float32 // scratch: the blocks a fan-in sums
	zero   []float32
	outs   [][]float32 // this lane's output blocks

	succ      []bus.Node
	succPreds [][]bus.Node
	terminal  bool
	nTerm     uint32

	prio      int    // SCHED_FIFO priority for the loop, 0 for none
	last      uint64 // the cycle state follows
	stateLane int    // the lane holding block last
	stopping  atomic.Bool
}

// runNode is the node worker: Args are the graph (JSON), the node's index
// and the number of lanes; the bus is extra file 0.
func runNode(ctx context.Context, w *worker.Worker) error {
	n, err := newNodeProc(w)
	if err != nil {
		return err
	}
	wasSpare := w.Spare()
	atomic.StoreUint32(n.lane.Pid(), uint32(pid()))
	if wasSpare {
		atomic.StoreUint32(n.lane.State(), bus.LaneParked)
	}
	// The thread that parks is the thread that runs the loop, in
	// SCHED_FIFO already: when the kernel or the driver wakes a spare, it
	// preempts whatever normal work the machine is doing.
	runtime.LockOSThread()
	atomic.StoreUint32(n.lane.Tid(), uint32(gettid()))
	if n.prio > 0 {
		got := uint32(n.prio)
		if setFIFO(n.prio) != nil {
			got = bus.PriorityDenied
		}
		atomic.StoreUint32(n.lane.Priority(), got)
	}
	w.Ready()
	if err := w.WaitActive(ctx); err != nil {
		return nil // stopped while parked
	}
	return n.serve(ctx, worker.Monotonic(), wasSpare)
}

func newNodeProc(w *worker.Worker) (*nodeProc, error) {
	args := w.Args()
	if len(args) != 4 {
		return nil, fmt.Errorf("audio node: want 4 arguments (graph, node, lanes, priority), got %d", len(args))
	}
	g, err := decodeGraph(args[0])
	if err != nil {
		return nil, fmt.Errorf("audio node: graph: %w", err)
	}
	i, err1 := strconv.Atoi(args[1])
	lanes, err2 := strconv.Atoi(args[2])
	prio, err3 := strconv.Atoi(args[3])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("audio node: %w", err)
	}
	t, err := newTopology(g)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(t.procs) {
		return nil, fmt.Errorf("audio node: node %d of %d", i, len(t.procs))
	}
	layout, err := bus.Plan(bus.Shape{Lanes: lanes, BlockSize: t.blockSize, Outputs: t.outputs()})
	if err != nil {
		return nil, err
	}
	f := worker.ExtraFile(0)
	if f == nil {
		return nil, fmt.Errorf("audio node: no bus (extra file 0)")
	}
	b, err := bus.Open(f, layout)
	if err != nil {
		return nil, err
	}
	bs := t.blockSize
	p := t.procs[i]
	n := &nodeProc{
		w: w, b: b, t: t, me: b.Node(i), myLane: w.Lane(), lanes: lanes, proc: p,
		state:    make([]byte, stateHeader+p.StateSize()),
		srcs:     t.inputs[i],
		ins:      make([][]float32, p.Inputs()),
		mix:      make([][]float32, p.Inputs()),
		zero:     make([]float32, bs),
		outs:     make([][]float32, p.Outputs()),
		terminal: t.terminal[i],
		nTerm:    uint32(len(t.terminals)),
		prio:     prio,
	}
	if n.myLane < 0 || n.myLane >= lanes {
		return nil, fmt.Errorf("audio node: lane %d of %d", n.myLane, lanes)
	}
	n.kstate = n.state[stateHeader:]
	n.lane = n.me.Lane(n.myLane)
	fan := 0
	for k, s := range n.srcs {
		n.mix[k] = make([]float32, bs)
		fan = max(fan, len(s))
	}
	n.views = make([][]float32, 0, fan)
	for k := range n.outs {
		n.outs[k] = n.lane.Out(k)
	}
	for _, s := range t.succ[i] {
		n.succ = append(n.succ, b.Node(s))
		var preds []bus.Node
		for _, q := range t.preds[s] {
			preds = append(preds, b.Node(q))
		}
		n.succPreds = append(n.succPreds, preds)
	}
	n.warmUp()
	return n, nil
}

// warmUp runs the kernel a few times on private buffers, so that its code
// and data are hot when the first real block comes. It must not write the
// lane's outputs: a block a previous process of this lane published may
// still be read there.
func (n *nodeProc) warmUp() {
	bs := n.t.blockSize
	st := make([]byte, len(n.kstate))
	in := make([][]float32, len(n.ins))
	for k := range in {
		in[k] = n.zero
	}
	out := make([][]float32, len(n.outs))
	for k := range out {
		out[k] = make([]float32, bs)
	}
	for range 8 {
		n.proc.Process(st, in, out)
	}
	clear(n.state)
}

// serve is the primary's loop, on the thread runNode locked for good: the
// loop owns it until the process ends. Nothing in the loop allocates, so
// the collector is switched off rather than left to wake for nothing.
func (n *nodeProc) serve(ctx context.Context, promotedAt int64, wasSpare bool) error {
	debug.SetGCPercent(-1)
	stop := context.AfterFunc(ctx, func() {
		n.stopping.Store(true)
		bus.Wake(n.me.Wake(), 1<<30)
	})
	defer stop()
	if err := n.adopt(); err != nil {
		return err
	}
	recovered := bus.RecoveredNone
	if wasSpare {
		C := atomic.LoadUint64(n.me.Req())
		switch {
		case C == n.last+1:
			recovered = bus.RecoveredCompute
		case C == n.last && C > 0:
			recovered = bus.RecoveredReuse
		default:
			recovered = bus.RecoveredBetween
		}
	}
	atomic.StoreUint32(n.lane.Recovered(), recovered)
	atomic.StoreUint64(n.lane.Adopted(), n.last)
	atomic.StoreInt64(n.lane.PromotedAt(), promotedAt)
	atomic.StoreUint32(n.lane.State(), bus.LaneActive)
	if !wasSpare && n.last == 0 {
		// Touch both state slots with the initial state (block 0, which
		// is what no state at all means too), so that the first blocks
		// take no page faults in them.
		for range 2 {
			binary.LittleEndian.PutUint32(n.state[8:12], uint32(n.myLane))
			if err := n.w.Commit(n.state); err != nil {
				return nil // fenced already
			}
		}
	}

	for {
		if n.stopping.Load() || atomic.LoadUint32(n.b.Stop()) != 0 {
			return nil
		}
		C := atomic.LoadUint64(n.me.Req())
		switch {
		case C == n.last+1:
			if err := n.compute(C); err != nil {
				if errors.Is(err, errFenced) {
					<-ctx.Done() // the engine kills a fenced primary
					return nil
				}
				return err
			}
		case C == n.last && C > 0 && atomic.LoadUint64(n.lane.Done()) != C:
			// The previous primary committed this block and may not have
			// published it: its outputs are complete in its lane.
			if n.stateLane != n.myLane {
				copy(n.lane.Outs(), n.me.Lane(n.stateLane).Outs())
			}
			n.publish(C)
		case C == n.last:
			bus.Wait(n.me.Wake(), uint32(C))
		default:
			return fmt.Errorf("audio node %s: asked for block %d, state follows block %d", n.t.names[n.me.Index()], C, n.last)
		}
	}
}

// adopt loads the latest committed state into the working copy.
func (n *nodeProc) adopt() error {
	size, err := n.w.State(n.state)
	switch {
	case errors.Is(err, worker.ErrNoState):
		clear(n.state)
		n.last, n.stateLane = 0, n.myLane
		return nil
	case err != nil:
		return fmt.Errorf("audio node: state: %w", err)
	case size != len(n.state):
		return fmt.Errorf("audio node: committed state is %d bytes, want %d", size, len(n.state))
	}
	n.last = binary.LittleEndian.Uint64(n.state[0:8])
	n.stateLane = int(binary.LittleEndian.Uint32(n.state[8:12]))
	if n.stateLane >= n.lanes {
		return fmt.Errorf("audio node: committed state names lane %d of %d", n.stateLane, n.lanes)
	}
	return nil
}

// compute makes block C from the state after block C-1: outputs first,
// then the state commit tagged C, then the publication. A process that
// dies anywhere in between leaves either the state of C-1 (a spare
// recomputes C, bit for bit) or that of C with its block complete in this
// lane (a spare publishes it).
func (n *nodeProc) compute(C uint64) error {
	atomic.StoreInt64(n.lane.StartAt(), worker.Monotonic())
	n.fault(C, BeforeCompute)
	for k, srcs := range n.srcs {
		switch len(srcs) {
		case 0:
			n.ins[k] = n.zero
		case 1:
			v := n.block(srcs[0], C)
			if v == nil {
				return n.notReady(srcs[0], C)
			}
			n.ins[k] = v
		default:
			n.views = n.views[:0]
			for _, s := range srcs {
				v := n.block(s, C)
				if v == nil {
					return n.notReady(s, C)
				}
				n.views = append(n.views, v)
			}
			mixInto(n.mix[k], n.views)
			n.ins[k] = n.mix[k]
		}
	}
	n.proc.Process(n.kstate, n.ins, n.outs)
	n.fault(C, AfterOutput)
	binary.LittleEndian.PutUint64(n.state[0:8], C)
	binary.LittleEndian.PutUint32(n.state[8:12], uint32(n.myLane))
	if err := n.w.Commit(n.state); err != nil {
		if errors.Is(err, worker.ErrFenced) {
			return errFenced
		}
		return err
	}
	n.last, n.stateLane = C, n.myLane
	n.fault(C, AfterCommit)
	n.publish(C)
	return nil
}

func (n *nodeProc) notReady(s src, C uint64) error {
	return fmt.Errorf("audio node %s: woken for block %d before %s published it", n.t.names[n.me.Index()], C, n.t.names[s.node])
}

// block returns output port s of block C, from whichever lane of its node
// published it, or nil.
func (n *nodeProc) block(s src, C uint64) []float32 {
	node := n.b.Node(s.node)
	for l := range n.lanes {
		if r := node.Lane(l); atomic.LoadUint64(r.Done()) == C {
			return r.Out(s.port)
		}
	}
	return nil
}

func (n *nodeProc) anyDone(node bus.Node, C uint64) bool {
	for l := range n.lanes {
		if atomic.LoadUint64(node.Lane(l).Done()) == C {
			return true
		}
	}
	return false
}

// publish says block C is in this lane, wakes each successor whose inputs
// are all published, and tells the driver when this node feeds nothing.
func (n *nodeProc) publish(C uint64) {
	atomic.StoreInt64(n.lane.FinishAt(), worker.Monotonic())
	atomic.StoreUint64(n.lane.Done(), C)
	n.fault(C, AfterPublish)
	now := worker.Monotonic()
	for k, s := range n.succ {
		ready := true
		for _, p := range n.succPreds[k] {
			if !n.anyDone(p, C) {
				ready = false
				break
			}
		}
		if ready {
			wakeNode(s, C, now)
		}
	}
	if n.terminal {
		v := atomic.AddUint32(n.b.Driver(), 1)
		if v-atomic.LoadUint32(n.b.CycleBase()) >= n.nTerm {
			bus.Wake(n.b.Driver(), 1)
		}
	}
}

// wakeNode asks node s for block C, once: of several predecessors that find
// s ready at the same time, one wins the compare-and-swap and wakes it.
func wakeNode(s bus.Node, C uint64, now int64) {
	if atomic.LoadUint64(s.Req()) != C-1 {
		return
	}
	atomic.StoreInt64(s.WakeAt(), now)
	if atomic.CompareAndSwapUint64(s.Req(), C-1, C) {
		atomic.StoreUint32(s.Wake(), uint32(C))
		bus.Wake(s.Wake(), 1<<30)
	}
}

// fault carries out the fault planned for block C at point p, if any, once.
func (n *nodeProc) fault(C uint64, p FaultPoint) {
	if atomic.LoadUint64(n.me.FaultCycle()) != C || atomic.LoadUint32(n.me.FaultPoint()) != uint32(p) {
		return
	}
	if !atomic.CompareAndSwapUint32(n.me.FaultFired(), 0, 1) {
		return
	}
	now := worker.Monotonic()
	atomic.StoreInt64(n.me.FaultFiredAt(), now)
	switch FaultKind(atomic.LoadUint32(n.me.FaultKind())) {
	case FaultKill:
		killSelf()
		for {
			runtime.Gosched() // until the signal lands
		}
	case FaultHang:
		stopSelf()
		for {
			runtime.Gosched() // stopped; and if continued, still hung
		}
	case FaultOverrun:
		until := now + atomic.LoadInt64(n.me.FaultSpin())
		for worker.Monotonic() < until {
		}
	case FaultSegv:
		segvSelf()
		for {
			runtime.Gosched()
		}
	}
}

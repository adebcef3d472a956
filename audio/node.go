package audio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/understudy/understudy/audio/internal/bus"
	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

// nodeWorker is the name under which this package registers the worker that
// runs one node of an [Engine] (procbridge/worker.Register). A program that
// starts an Engine calls worker.Main first thing in main, or in TestMain,
// since the node processes are that program re-executed.
const nodeWorker = "understudy-audio-node"

func init() { worker.Register(nodeWorker, runNode) }

// exitUnknownKind is the status a node process exits with when the graph
// names a kind it does not know: registered in the engine's process after
// initialisation, so not in the re-executed program's.
const exitUnknownKind = 65

// stateHeader is the part of a host's committed state before the kernels':
// [0:8] the cycle whose block the state follows (0: none yet), [8:12] the
// lane whose outputs hold that block.
const stateHeader = 16

// errFenced: this process is no longer the host's primary.
var errFenced = errors.New("audio: node fenced")

// hostProc is one node process: the host of one node or of several that
// share it (Node.Process), its view of the bus, and the buffers its loop
// reuses, all made before it says it is ready.
type hostProc struct {
	w      *worker.Worker
	b      *bus.Bus
	t      *topology
	h      int
	host   bus.Host
	hlane  bus.HostLane // this process's lane of the host
	myLane int
	lanes  int
	nodes  []member // in topological order

	state []byte // stateHeader + each member's kernel state: the working copy
	zero  []float32
	views [][]float32 // scratch: the blocks a fan-in sums
	nTerm uint32

	prio      int // SCHED_FIFO priority for the loop, 0 for none
	probe     allocProbe
	last      uint64 // the cycle state follows
	stateLane int    // the lane holding block last
	stopping  atomic.Bool
}

// member is one node a host runs.
type member struct {
	i      int
	me     bus.Node
	lane   bus.LaneRecord // this process's lane of the node
	proc   Processor
	kstate []byte // its part of hostProc.state
	feeds  [][]feed
	ins    [][]float32
	mix    [][]float32 // per input, the sum of a fan-in
	outs   [][]float32 // this lane's output blocks
	// succ lists the hosts other than this one the node feeds, each with
	// every node outside it that feeds it.
	succ     []succHost
	terminal bool
}

// feed is one output port read by an input: another host's, read from
// whichever lane published it, or a node of this host, computed earlier in
// the same cycle into this process's lane.
type feed struct {
	node  bus.Node
	port  int
	local bool
}

type succHost struct {
	host  bus.Host
	preds []bus.Node
}

// runNode is the node worker: Args are the graph (JSON), the host's index,
// the number of lanes, the loop's priority and the allocation probe's
// warm-up; the bus is extra file 0.
func runNode(ctx context.Context, w *worker.Worker) error {
	n, err := newHostProc(w)
	if errors.Is(err, ErrInvalidGraph) {
		fmt.Fprintf(os.Stderr, "understudy worker %s: %v\n"+
			"  this process is %s re-executed, which knows the kinds registered while it initialised;\n"+
			"  register kinds with audio.RegisterKind from init() or a package-level var, not from main\n",
			nodeWorker, err, os.Args[0])
		os.Exit(exitUnknownKind)
	}
	if err != nil {
		return err
	}
	wasSpare := !w.Active()
	atomic.StoreUint32(n.hlane.Pid(), uint32(pid()))
	if wasSpare {
		atomic.StoreUint32(n.hlane.State(), bus.LaneParked)
	}
	// The thread that parks is the thread that runs the loop, in
	// SCHED_FIFO already: when the kernel or the driver wakes a spare, it
	// preempts whatever normal work the machine is doing.
	// In real time, every other thread of the process goes to SCHED_FIFO
	// 1 and the process gets spare Ps (rt_linux.go): the threads that
	// hand the loop its P back when sysmon preempts it must not wait
	// behind the machine's other work.
	runtime.LockOSThread()
	if n.prio > 0 {
		runtime.GOMAXPROCS(rtProcs())
	}
	spareThreads(4)
	atomic.StoreUint32(n.hlane.Tid(), uint32(linux.Gettid()))
	if n.prio > 0 {
		got := uint32(n.prio)
		if linux.SetFIFO(n.prio) != nil {
			got = bus.PriorityDenied
		} else {
			atomic.StoreUint32(n.hlane.Setup(), setupRealTime())
		}
		atomic.StoreUint32(n.hlane.Priority(), got)
	}
	w.Ready()
	if err := w.WaitActive(ctx); err != nil {
		return nil // stopped while parked
	}
	return n.serve(ctx, mono.Now(), wasSpare)
}

func newHostProc(w *worker.Worker) (*hostProc, error) {
	args := os.Args[1:]
	if len(args) != 5 {
		return nil, fmt.Errorf("audio node: want 5 arguments (graph, host, lanes, priority, probe), got %d", len(args))
	}
	g, err := decodeGraph(args[0])
	if err != nil {
		return nil, fmt.Errorf("audio node: graph: %w", err)
	}
	h, err1 := strconv.Atoi(args[1])
	lanes, err2 := strconv.Atoi(args[2])
	prio, err3 := strconv.Atoi(args[3])
	probe, err4 := strconv.ParseUint(args[4], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, fmt.Errorf("audio node: %w", err)
	}
	t, err := newTopology(g)
	if err != nil {
		return nil, err
	}
	if h < 0 || h >= len(t.members) {
		return nil, fmt.Errorf("audio node: host %d of %d", h, len(t.members))
	}
	layout, err := bus.Plan(bus.Shape{Hosts: len(t.members), Lanes: lanes, BlockSize: t.blockSize, Outputs: t.outputs()})
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
	n := &hostProc{
		w: w, b: b, t: t, h: h, host: b.Host(h), myLane: w.Lane(), lanes: lanes,
		state: make([]byte, t.hostStateSize(h)),
		zero:  make([]float32, bs),
		nTerm: uint32(len(t.terminals)),
		prio:  prio,
	}
	if n.myLane < 0 || n.myLane >= lanes {
		return nil, fmt.Errorf("audio node: lane %d of %d", n.myLane, lanes)
	}
	n.hlane = n.host.Lane(n.myLane)
	off, fan := stateHeader, 0
	for _, i := range t.members[h] {
		p := t.procs[i]
		m := member{
			i: i, me: b.Node(i), proc: p,
			kstate:   n.state[off : off+p.StateSize() : off+p.StateSize()],
			feeds:    make([][]feed, p.Inputs()),
			ins:      make([][]float32, p.Inputs()),
			mix:      make([][]float32, p.Inputs()),
			outs:     make([][]float32, p.Outputs()),
			terminal: t.terminal[i],
		}
		off += p.StateSize()
		m.lane = m.me.Lane(n.myLane)
		for k, srcs := range t.inputs[i] {
			m.mix[k] = make([]float32, bs)
			fan = max(fan, len(srcs))
			for _, s := range srcs {
				m.feeds[k] = append(m.feeds[k], feed{node: b.Node(s.node), port: s.port, local: t.hostOf[s.node] == h})
			}
		}
		for k := range m.outs {
			m.outs[k] = m.lane.Out(k)
		}
		for _, hs := range t.hostSucc[i] {
			sh := succHost{host: b.Host(hs)}
			for _, q := range t.hostPreds[hs] {
				sh.preds = append(sh.preds, b.Node(q))
			}
			m.succ = append(m.succ, sh)
		}
		n.nodes = append(n.nodes, m)
	}
	n.views = make([][]float32, 0, fan)
	n.probe.init(n.hlane, probe)
	n.warmUp()
	return n, nil
}

// warmUp runs the kernels a few times on private buffers, so that their
// code and data are hot when the first real block comes. It must not write
// the lane's outputs: a block a previous process of this lane published may
// still be read there.
func (n *hostProc) warmUp() {
	bs := n.t.blockSize
	for _, m := range n.nodes {
		st := make([]byte, len(m.kstate))
		in := make([][]float32, len(m.ins))
		for k := range in {
			in[k] = n.zero
		}
		out := make([][]float32, len(m.outs))
		for k := range out {
			out[k] = make([]float32, bs)
		}
		for range 8 {
			m.proc.Process(st, in, out)
		}
	}
	clear(n.state)
}

// serve is the primary's loop, on the thread runNode locked for good: the
// loop owns it until the process ends. Nothing in the loop allocates, so
// the collector is switched off rather than left to wake for nothing.
func (n *hostProc) serve(ctx context.Context, promotedAt int64, wasSpare bool) error {
	debug.SetGCPercent(-1)
	stop := context.AfterFunc(ctx, func() {
		n.stopping.Store(true)
		linux.FutexWake(n.host.Wake(), 1<<30)
	})
	defer stop()
	had, err := n.adopt()
	if err != nil {
		return err
	}
	if !had {
		n.resume()
	}
	recovered := bus.RecoveredNone
	if wasSpare {
		C := atomic.LoadUint64(n.host.Req())
		switch {
		case C == n.last+1:
			recovered = bus.RecoveredCompute
		case C == n.last && C > 0:
			recovered = bus.RecoveredReuse
		default:
			recovered = bus.RecoveredBetween
		}
	}
	atomic.StoreUint32(n.hlane.Recovered(), recovered)
	atomic.StoreUint64(n.hlane.Adopted(), n.last)
	atomic.StoreInt64(n.hlane.PromotedAt(), promotedAt)
	atomic.StoreUint32(n.hlane.State(), bus.LaneActive)
	if !had {
		// Touch both state slots with the initial state (the block the
		// process starts from: 0 in a new engine), so that the first
		// blocks take no page faults in them, and a spare promoted before
		// the first block finds where it is.
		for range 2 {
			binary.LittleEndian.PutUint64(n.state[0:8], n.last)
			binary.LittleEndian.PutUint32(n.state[8:12], uint32(n.stateLane))
			if err := n.w.Commit(n.state); err != nil {
				return nil // fenced already
			}
		}
	}

	for {
		if n.stopping.Load() || atomic.LoadUint32(n.b.Stop()) != 0 {
			return nil
		}
		C := atomic.LoadUint64(n.host.Req())
		switch {
		case C == n.last+1:
			if err := n.compute(C); err != nil {
				if errors.Is(err, errFenced) {
					<-ctx.Done() // the engine kills a fenced primary
					return nil
				}
				return err
			}
			n.probe.computed(C)
		case C == n.last && C > 0 && !n.published(C):
			// The previous primary committed this block and may not have
			// published all of it: the outputs are complete in its lane.
			// The block's start is stamped now, so that its compute time
			// is the copy's, not the time since this lane last computed.
			for k := range n.nodes {
				m := &n.nodes[k]
				if atomic.LoadUint64(m.lane.Done()) == C {
					continue
				}
				atomic.StoreInt64(m.lane.StartAt(), mono.Now())
				if n.stateLane != n.myLane {
					copy(m.lane.Outs(), m.me.Lane(n.stateLane).Outs())
				}
				n.publish(m, C)
			}
		case C == n.last:
			linux.FutexWait(n.host.Wake(), uint32(C), 0)
		default:
			return fmt.Errorf("audio node %s: asked for block %d, state follows block %d", n.t.hostLabel(n.h), C, n.last)
		}
	}
}

// published reports whether this lane has published block C of every node.
func (n *hostProc) published(C uint64) bool {
	for k := range n.nodes {
		if atomic.LoadUint64(n.nodes[k].lane.Done()) != C {
			return false
		}
	}
	return true
}

// adopt loads the latest committed state into the working copy, and
// reports whether there was one.
func (n *hostProc) adopt() (bool, error) {
	size, err := n.w.State(n.state)
	switch {
	case errors.Is(err, procbridge.ErrNoState):
		clear(n.state)
		n.last, n.stateLane = 0, n.myLane
		return false, nil
	case err != nil:
		return false, fmt.Errorf("audio node: state: %w", err)
	case size != len(n.state):
		return false, fmt.Errorf("audio node: committed state is %d bytes, want %d", size, len(n.state))
	}
	n.last = binary.LittleEndian.Uint64(n.state[0:8])
	n.stateLane = int(binary.LittleEndian.Uint32(n.state[8:12]))
	if n.stateLane >= n.lanes {
		return false, fmt.Errorf("audio node: committed state names lane %d of %d", n.stateLane, n.lanes)
	}
	return true, nil
}

// resume places a process that found no committed state where the bus is:
// in a new engine at block 0; in a node process restarted cold (a new
// group over a new segment, after the old one was lost with no spare
// ready) at R, the block its host was last asked for. If the lost process
// published R of every node of the host, the new one copies those blocks
// into its own lane and waits for R+1; if not, it computes R. Either way
// its nodes' state starts from zero: the blocks differ from a fault-free
// run's, which is what a cold restart means (the engine reports it).
func (n *hostProc) resume() {
	R := atomic.LoadUint64(n.host.Req())
	n.last, n.stateLane = 0, n.myLane
	if R == 0 {
		return
	}
	n.last = R - 1
	for k := range n.nodes {
		if n.doneLane(n.nodes[k].me, R) < 0 {
			return
		}
	}
	for k := range n.nodes {
		m := &n.nodes[k]
		if l := n.doneLane(m.me, R); l != n.myLane {
			copy(m.lane.Outs(), m.me.Lane(l).Outs())
			atomic.StoreInt64(m.lane.StartAt(), atomic.LoadInt64(m.me.Lane(l).StartAt()))
			atomic.StoreInt64(m.lane.FinishAt(), atomic.LoadInt64(m.me.Lane(l).FinishAt()))
			atomic.StoreUint64(m.lane.Done(), R)
		}
	}
	n.last = R
}

// doneLane returns the lane that published block C of node, or -1.
func (n *hostProc) doneLane(node bus.Node, C uint64) int {
	for l := range n.lanes {
		if atomic.LoadUint64(node.Lane(l).Done()) == C {
			return l
		}
	}
	return -1
}

// compute makes block C of every node of the host from the state after
// C-1: all outputs first, node after node, then one state commit tagged C
// for them all, then the publications. A process that dies anywhere in
// between leaves either the state of C-1 (a spare recomputes C, bit for
// bit, for every node) or that of C with every node's block complete in
// this lane (a spare publishes what is not yet published).
func (n *hostProc) compute(C uint64) error {
	for k := range n.nodes {
		m := &n.nodes[k]
		atomic.StoreInt64(m.lane.StartAt(), mono.Now())
		n.fault(m, C, beforeCompute)
		for k, feeds := range m.feeds {
			switch len(feeds) {
			case 0:
				m.ins[k] = n.zero
			case 1:
				v := n.block(feeds[0], C)
				if v == nil {
					return n.notReady(m, feeds[0], C)
				}
				m.ins[k] = v
			default:
				n.views = n.views[:0]
				for _, f := range feeds {
					v := n.block(f, C)
					if v == nil {
						return n.notReady(m, f, C)
					}
					n.views = append(n.views, v)
				}
				mixInto(m.mix[k], n.views)
				m.ins[k] = m.mix[k]
			}
		}
		m.proc.Process(m.kstate, m.ins, m.outs)
		n.fault(m, C, afterOutput)
	}
	binary.LittleEndian.PutUint64(n.state[0:8], C)
	binary.LittleEndian.PutUint32(n.state[8:12], uint32(n.myLane))
	if err := n.w.Commit(n.state); err != nil {
		if errors.Is(err, worker.ErrFenced) {
			return errFenced
		}
		return err
	}
	n.last, n.stateLane = C, n.myLane
	for k := range n.nodes {
		n.fault(&n.nodes[k], C, afterCommit)
	}
	for k := range n.nodes {
		n.publish(&n.nodes[k], C)
	}
	return nil
}

func (n *hostProc) notReady(m *member, f feed, C uint64) error {
	return fmt.Errorf("audio node %s: woken for block %d before %s published it", n.t.names[m.i], C, n.t.names[f.node.Index()])
}

// block returns the output port f reads of block C: from this process's
// lane when its node is one of this host's (computed just before, in
// topological order), else from whichever lane of its node published it,
// or nil.
func (n *hostProc) block(f feed, C uint64) []float32 {
	if f.local {
		return f.node.Lane(n.myLane).Out(f.port)
	}
	for l := range n.lanes {
		if r := f.node.Lane(l); atomic.LoadUint64(r.Done()) == C {
			return r.Out(f.port)
		}
	}
	return nil
}

func (n *hostProc) anyDone(node bus.Node, C uint64) bool {
	for l := range n.lanes {
		if atomic.LoadUint64(node.Lane(l).Done()) == C {
			return true
		}
	}
	return false
}

// publish says block C of node m is in this lane, wakes each host it feeds
// whose inputs from outside are all published, and tells the driver when m
// feeds nothing.
func (n *hostProc) publish(m *member, C uint64) {
	atomic.StoreInt64(m.lane.FinishAt(), mono.Now())
	atomic.StoreUint64(m.lane.Done(), C)
	n.fault(m, C, afterPublish)
	now := mono.Now()
	for _, s := range m.succ {
		ready := true
		for _, p := range s.preds {
			if !n.anyDone(p, C) {
				ready = false
				break
			}
		}
		if ready {
			wakeHost(s.host, C, now)
		}
	}
	if m.terminal {
		v := atomic.AddUint32(n.b.Driver(), 1)
		if v-atomic.LoadUint32(n.b.CycleBase()) >= n.nTerm {
			linux.FutexWake(n.b.Driver(), 1)
		}
	}
}

// wakeHost asks host s for block C, once: of several predecessors that find
// s ready at the same time, one wins the compare-and-swap and wakes it.
func wakeHost(s bus.Host, C uint64, now int64) {
	if atomic.LoadUint64(s.Req()) != C-1 {
		return
	}
	atomic.StoreInt64(s.WakeAt(), now)
	if atomic.CompareAndSwapUint64(s.Req(), C-1, C) {
		atomic.StoreUint32(s.Wake(), uint32(C))
		linux.FutexWake(s.Wake(), 1<<30)
	}
}

// fault carries out the fault planned for node m's block C at point p, if
// any, once.
func (n *hostProc) fault(m *member, C uint64, p faultPoint) {
	me := m.me
	if atomic.LoadUint64(me.FaultCycle()) != C || atomic.LoadUint32(me.FaultPoint()) != uint32(p) {
		return
	}
	if !atomic.CompareAndSwapUint32(me.FaultFired(), 0, 1) {
		return
	}
	now := mono.Now()
	atomic.StoreInt64(me.FaultFiredAt(), now)
	switch atomic.LoadUint32(me.FaultKind()) {
	case faultKill:
		killSelf()
		for {
			runtime.Gosched() // until the signal lands
		}
	case faultHang:
		stopSelf()
		for {
			runtime.Gosched() // stopped; and if continued, still hung
		}
	case faultOverrun:
		until := now + atomic.LoadInt64(me.FaultSpin())
		for mono.Now() < until {
		}
	case faultSegv:
		segvSelf()
		for {
			runtime.Gosched()
		}
	}
}

// allocProbe counts the heap allocations of a node process's loop, when
// the engine asks (tests: the loop must allocate nothing). Once the loop
// has computed warmUp blocks as the primary, it reads the process's
// allocation count, and again every probeEvery blocks after, and leaves
// the difference in its lane record (bus ProbeFrom, ProbeTo,
// ProbeAllocs). runtime.ReadMemStats is exact (it flushes every P's
// allocation cache; runtime/metrics counts a span's objects when the
// span is handed out), and costs a stop-the-world of a few microseconds
// in a process this small, only every probeEvery blocks, only when asked.
type allocProbe struct {
	lane   bus.HostLane
	warmUp uint64 // 0: off
	blocks uint64 // computed since the loop began
	base   uint64
	ms     *runtime.MemStats
}

const probeEvery = 100

func (p *allocProbe) init(lane bus.HostLane, warmUp uint64) {
	p.lane, p.warmUp = lane, warmUp
	atomic.StoreUint64(lane.ProbeFrom(), 0)
	atomic.StoreUint64(lane.ProbeTo(), 0)
	atomic.StoreUint64(lane.ProbeAllocs(), 0)
	if warmUp > 0 {
		p.ms = new(runtime.MemStats)
	}
}

// computed notes that the loop computed block C.
func (p *allocProbe) computed(C uint64) {
	if p.warmUp == 0 {
		return
	}
	p.blocks++
	switch {
	case p.blocks == p.warmUp:
		// Twice: the world a first reading stops may start again on a
		// thread the runtime has to make (and allocate for).
		runtime.ReadMemStats(p.ms)
		runtime.ReadMemStats(p.ms)
		p.base = p.ms.Mallocs
		atomic.StoreUint64(p.lane.ProbeTo(), C)
		atomic.StoreUint64(p.lane.ProbeFrom(), C+1)
	case p.blocks > p.warmUp && (p.blocks-p.warmUp)%probeEvery == 0:
		runtime.ReadMemStats(p.ms)
		atomic.StoreUint64(p.lane.ProbeAllocs(), p.ms.Mallocs-p.base)
		atomic.StoreUint64(p.lane.ProbeTo(), C)
	}
}

// spareThreads has the runtime make k threads more than it uses now, which
// then stay idle. A goroutine locked to its thread that is descheduled (the
// loop is, by sysmon, after 10 ms in which its futex waits were too short
// for its P to be taken away) hands its P to another thread, which the
// runtime makes, and allocates for, when none is idle: made now, not in
// the middle of the loop. k goroutines locked to their threads at once
// need k threads; unlocked, they exit and leave their threads idle (the
// runtime keeps idle threads).
func spareThreads(k int) {
	var locked, release sync.WaitGroup
	locked.Add(k)
	release.Add(1)
	var done sync.WaitGroup
	for range k {
		done.Go(func() {
			runtime.LockOSThread()
			locked.Done()
			release.Wait()
			runtime.UnlockOSThread()
		})
	}
	locked.Wait()
	release.Done()
	done.Wait()
}

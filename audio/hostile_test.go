//go:build linux

package audio

// Node processes that write into the bus words the engine's driver reads,
// as a buggy or hostile node in any language could.

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/audio/internal/bus"
	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
)

// busFd is the bus's descriptor in a node process: its first ExtraFile.
const busFd = 6

func init() {
	for _, k := range []Kind{wakeLiarKind, laneLiarKind, tidLiarKind, wakeStormKind, reqLiarKind} {
		if err := RegisterKind(k); err != nil {
			panic(err)
		}
	}
}

// firstHere reports whether this process is the first of the engine's
// node processes to get to the point named what: its spares stay honest.
func firstHere(what string) bool {
	mark := filepath.Join(os.TempDir(), what+"-"+strconv.Itoa(os.Getppid()))
	f, err := os.OpenFile(mark, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// clearMarks removes the marks firstHere leaves for this engine process.
func clearMarks(t *testing.T, what ...string) {
	for _, w := range what {
		mark := filepath.Join(os.TempDir(), w+"-"+strconv.Itoa(os.Getpid()))
		os.Remove(mark) // one a process of the same pid left
		t.Cleanup(func() { os.Remove(mark) })
	}
}

// hostileBus maps the bus in a node process from the node worker's
// arguments (graph, host, lanes, ...), as a node in any language could,
// and returns it with the topology, the host and this process's lane.
func hostileBus() (*bus.Bus, *topology, int, int) {
	g, err := decodeGraph(os.Args[1])
	if err != nil {
		panic(err)
	}
	t, err := newTopology(g)
	if err != nil {
		panic(err)
	}
	h, _ := strconv.Atoi(os.Args[2])
	lanes, _ := strconv.Atoi(os.Args[3])
	lane, _ := strconv.Atoi(os.Getenv("UNDERSTUDY_LANE"))
	l, err := bus.Plan(bus.Shape{Hosts: len(t.members), Lanes: lanes, BlockSize: t.blockSize, Outputs: t.outputs()})
	if err != nil {
		panic(err)
	}
	b, err := bus.Open(os.NewFile(busFd, "bus"), l)
	if err != nil {
		panic(err)
	}
	return b, t, h, lane
}

// passThrough is a node of one input and one output that copies it.
type passThrough struct{ blocks int }

func (*passThrough) Inputs() int    { return 1 }
func (*passThrough) Outputs() int   { return 1 }
func (*passThrough) StateSize() int { return 0 }

// liarGraph is a source and the hostile node kind fed by it.
func liarGraph(kind string) Graph {
	return Graph{
		Rate: 48000, BlockSize: 128,
		Nodes: []Node{
			{Name: "src", Kind: "testsignal"},
			{Name: "liar", Kind: kind},
		},
		Edges: []Edge{{From: Port{"src", 1}, To: Port{"liar", 0}}},
	}
}

// runHostile renders cycles of g (the sink: every node's first output)
// with a watchdog of 50 ms, hook called by the driver after each cycle,
// in runs of the lengths given, and returns the report of each run and
// the cycles in which the driver's early wakes passed their budget; the
// render must end.
func runHostile(t *testing.T, g Graph, hook func(C uint64), runs ...uint64) ([]Report, uint64) {
	t.Helper()
	var sink []Port
	for _, n := range g.Nodes {
		sink = append(sink, Port{n.Name, 0})
	}
	cfg := Config{Graph: g, Sink: sink, Watchdog: 50 * time.Millisecond, WAV: filepath.Join(t.TempDir(), "out.wav")}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := Start(ctx, cfg)
	require.NoError(t, err)
	defer e.Close(context.Background())
	e.cycleHook = hook
	var reps []Report
	for _, cycles := range runs {
		start := time.Now()
		rep, err := e.Run(ctx, cycles)
		require.NoError(t, err, "the render ends")
		t.Logf("%v in %v; the driver woke early %d times, and passed its budget in %d cycles", rep, time.Since(start), e.stats.wakes, e.stats.storms)
		reps = append(reps, rep)
	}
	return reps, e.stats.storms
}

// liarFailover returns the first failover of node liar.
func liarFailover(t *testing.T, rep Report) Failover {
	t.Helper()
	i := slices.IndexFunc(rep.Failovers, func(f Failover) bool { return f.Node == "liar" })
	require.GreaterOrEqual(t, i, 0, "a failover of the liar: %v", rep)
	return rep.Failovers[i]
}

// lane-liar passes its input through; at its process's 50th block, the
// first of its processes to get there stops computing (it hangs) and
// instead claims, every 100 µs, the block its host is asked for in every
// lane of its node but its own: the parked spares' lanes.
var laneLiarKind = Kind{
	Name: "lane-liar",
	Doc:  "a node that claims its blocks in its spares' lanes, then hangs",
	New:  func(int, Params) (Processor, error) { return &laneLiar{}, nil },
}

type laneLiar struct{ passThrough }

func (w *laneLiar) Process(_ []byte, in, out [][]float32) {
	copy(out[0], in[0])
	if w.blocks++; w.blocks != 50 || !firstHere("lane-liar") {
		return
	}
	b, t, h, me := hostileBus()
	go func() {
		for {
			C := atomic.LoadUint64(b.Host(h).Req())
			for _, i := range t.members[h] {
				for l := range b.Layout().Lanes {
					if l != me {
						r := b.Node(i).Lane(l)
						atomic.StoreInt64(r.FinishAt(), mono.Now())
						atomic.StoreUint64(r.Done(), C)
					}
				}
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	time.Sleep(time.Hour) // hung
}

// TestHostileDoneLane: a hung node that claims its blocks in its spares'
// lanes is not believed: a block counts only from the lane that serves its
// node's host, so the driver's watchdog fences it and its spare takes over.
func TestHostileDoneLane(t *testing.T) {
	// The liar feeds nothing, or feeds a gain: the gain's process believes
	// the claim and computes from the spare's lane, but the driver does not.
	fed := liarGraph("lane-liar")
	fed.Nodes = append(fed.Nodes, Node{Name: "out", Kind: "gain"})
	fed.Edges = append(fed.Edges, Edge{From: Port{"liar", 0}, To: Port{"out", 0}})
	for name, g := range map[string]Graph{"terminal": liarGraph("lane-liar"), "feeding": fed} {
		t.Run(name, func(t *testing.T) {
			clearMarks(t, "lane-liar")
			reps, _ := runHostile(t, g, nil, 200)
			assert.True(t, liarFailover(t, reps[0]).Watchdog, "failed over by the watchdog")
		})
	}
}

// req-liar passes its input through; at its process's 50th block, the
// first of its processes to get there writes 0 into its host's request
// word (the block the host is asked for), then hangs.
var reqLiarKind = Kind{
	Name: "req-liar",
	Doc:  "a node that rewrites the block it is asked for, then hangs",
	New:  func(int, Params) (Processor, error) { return &reqLiar{}, nil },
}

type reqLiar struct{ passThrough }

func (w *reqLiar) Process(_ []byte, in, out [][]float32) {
	copy(out[0], in[0])
	if w.blocks++; w.blocks != 50 || !firstHere("req-liar") {
		return
	}
	b, _, h, _ := hostileBus()
	atomic.StoreUint64(b.Host(h).Req(), 0)
	time.Sleep(time.Hour) // hung
}

// TestHostileRequest: a hung node that rewrote the block its host is
// asked for is watched all the same (the graph asks it: its inputs are
// published), fenced, and its spare, asked again, takes over.
func TestHostileRequest(t *testing.T) {
	clearMarks(t, "req-liar")
	reps, _ := runHostile(t, liarGraph("req-liar"), nil, 200)
	assert.True(t, liarFailover(t, reps[0]).Watchdog, "failed over by the watchdog")
}

// tid-liar passes its input through; at its process's 50th block, the
// first of its processes to get there writes into its host lane's record
// the engine's pid and the driver's thread (which the test writes into a
// file), then hangs: judged on the driver's thread, runnable whenever the
// driver looks, it would pass for a node waiting for a CPU.
var tidLiarKind = Kind{
	Name: "tid-liar",
	Doc:  "a node that claims the driver's thread as its own, then hangs",
	New:  func(int, Params) (Processor, error) { return &tidLiar{}, nil },
}

type tidLiar struct{ passThrough }

func (w *tidLiar) Process(_ []byte, in, out [][]float32) {
	copy(out[0], in[0])
	if w.blocks++; w.blocks != 50 || !firstHere("tid-liar") {
		return
	}
	tid, err := os.ReadFile(driverTidFile(os.Getppid()))
	if err != nil {
		return
	}
	n, _ := strconv.Atoi(string(tid))
	b, _, h, me := hostileBus()
	r := b.Host(h).Lane(me)
	atomic.StoreUint32(r.Pid(), uint32(os.Getppid()))
	atomic.StoreUint32(r.Tid(), uint32(n))
	time.Sleep(time.Hour) // hung
}

func driverTidFile(pid int) string {
	return filepath.Join(os.TempDir(), "driver-tid-"+strconv.Itoa(pid))
}

// TestHostileTid: a hung node that names the driver's thread, in the
// engine's process, as its own is judged on a thread of its own process
// only: the thread it names is none, so the watchdog fences it at its
// first look instead of watching the driver's thread for a CPU.
func TestHostileTid(t *testing.T) {
	clearMarks(t, "tid-liar")
	file := driverTidFile(os.Getpid())
	t.Cleanup(func() { os.Remove(file) })
	hook := func(C uint64) {
		if C == 1 {
			os.WriteFile(file, []byte(strconv.Itoa(linux.Gettid())), 0o600)
		}
	}
	// Up to a block before the lie (its process's 50th block comes some
	// blocks after the engine's 42nd), then on: the windows in which the
	// liar was watched as if waiting for a CPU are the second run's.
	reps, _ := runHostile(t, liarGraph("tid-liar"), hook, 30, 170)
	assert.True(t, liarFailover(t, reps[1]).Watchdog, "failed over by the watchdog")
	starved := func(rep Report) int {
		i := slices.IndexFunc(rep.Nodes, func(n NodeReport) bool { return n.Name == "liar" })
		return rep.Nodes[i].Starved
	}
	// Judged on the driver's thread, it would be watched window after
	// window (2 ms each) up to the cap of four watchdogs: some 75.
	t.Logf("the liar's windows watched for a CPU: %d before the lie, %d after; %v", starved(reps[0]), starved(reps[1])-starved(reps[0]), liarFailover(t, reps[1]))
	assert.Less(t, starved(reps[1])-starved(reps[0]), 10, "windows the driver watched another's thread for a CPU")
}

// wake-storm passes its input through, taking a millisecond a block; at
// its process's 50th block, the first of its processes to get there adds
// to the driver's futex word as fast as it can, waking it now and then,
// for two seconds.
var wakeStormKind = Kind{
	Name: "wake-storm",
	Doc:  "a node that keeps changing and waking the driver's futex word",
	New:  func(int, Params) (Processor, error) { return &wakeStorm{}, nil },
}

type wakeStorm struct{ passThrough }

func (w *wakeStorm) Process(_ []byte, in, out [][]float32) {
	copy(out[0], in[0])
	time.Sleep(time.Millisecond)
	if w.blocks++; w.blocks != 50 || !firstHere("wake-storm") {
		return
	}
	b, _, _, _ := hostileBus()
	go func() {
		word := b.Driver()
		for end, i := time.Now().Add(2*time.Second), 0; time.Now().Before(end); i++ {
			atomic.AddUint32(word, 1)
			if i%64 == 0 {
				linux.FutexWake(word, 1)
			}
		}
	}()
}

// threadCPU returns the calling thread's CPU time.
func threadCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestHostileDriverWake: a node that keeps changing and waking the
// driver's futex word does not make the driver spin: past a budget of
// early wakes in a cycle, it looks an eighth of a period at a time. The
// driver's thread uses a small part of the time the storm lasts.
func TestHostileDriverWake(t *testing.T) {
	clearMarks(t, "wake-storm")
	var cpu0, cpu1 time.Duration
	var at0, at1 int64
	const from, to = 100, 500 // cycles, inside the storm: about 1 ms each
	hook := func(C uint64) {
		switch C {
		case from:
			cpu0, at0 = threadCPU(), mono.Now()
		case to:
			cpu1, at1 = threadCPU(), mono.Now()
		}
	}
	_, storms := runHostile(t, liarGraph("wake-storm"), hook, to)
	assert.NotZero(t, storms, "cycles in which the driver's early wakes passed their budget")
	wall := time.Duration(at1 - at0)
	t.Logf("the driver's thread: %v of CPU in %v, cycles %d to %d", cpu1-cpu0, wall, from, to)
	assert.Less(t, cpu1-cpu0, wall/2, "the driver's CPU during the storm")
}

// wake-liar passes its input through; at its process's 50th block, the
// first of its processes to get there writes a time an hour ahead into its
// host's wake time (the word the driver's watchdog counts from), then
// hangs.
var wakeLiarKind = Kind{
	Name: "wake-liar",
	Doc:  "a node that lies about when it was woken, then hangs",
	New:  func(int, Params) (Processor, error) { return &wakeLiar{}, nil },
}

type wakeLiar struct{ blocks int }

func (*wakeLiar) Inputs() int    { return 1 }
func (*wakeLiar) Outputs() int   { return 1 }
func (*wakeLiar) StateSize() int { return 0 }
func (w *wakeLiar) Process(_ []byte, in, out [][]float32) {
	copy(out[0], in[0])
	if w.blocks++; w.blocks != 50 {
		return
	}
	// Only the first process to get here: its spares stay honest.
	mark := filepath.Join(os.TempDir(), "wake-liar-"+strconv.Itoa(os.Getppid()))
	if f, err := os.OpenFile(mark, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
		return
	} else {
		f.Close()
	}
	// The node worker's arguments: graph, host, lanes, …
	host, _ := strconv.Atoi(os.Args[2])
	lanes, _ := strconv.Atoi(os.Args[3])
	var st unix.Stat_t
	if unix.Fstat(busFd, &st) != nil {
		return
	}
	mem, err := unix.Mmap(busFd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return
	}
	// The bus layout: a 256-byte header, then each host's record (a
	// 64-byte line, then 128 bytes per lane); its wake time at +16.
	off := 256 + host*(64+lanes*128) + 16
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	atomic.StoreInt64((*int64)(unsafe.Pointer(&mem[off])), min(ts.Nano()+int64(time.Hour), math.MaxInt64))
	time.Sleep(time.Hour) // hung
}

// TestHostileWakeTime: a node that writes a wake time still to come into
// its host's record, and then hangs, is fenced by the driver's watchdog all
// the same: the driver counts from the block's start, and its spare takes
// over.
func TestHostileWakeTime(t *testing.T) {
	g := Graph{
		Rate: 48000, BlockSize: 128,
		Nodes: []Node{
			{Name: "src", Kind: "testsignal"},
			{Name: "liar", Kind: "wake-liar"},
		},
		Edges: []Edge{{From: Port{"src", 1}, To: Port{"liar", 0}}},
	}
	cfg := Config{Graph: g, Sink: []Port{{"src", 0}, {"liar", 0}}, Watchdog: 50 * time.Millisecond,
		WAV: filepath.Join(t.TempDir(), "out.wav")}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mark := filepath.Join(os.TempDir(), "wake-liar-"+strconv.Itoa(os.Getpid()))
	os.Remove(mark) // one a process of the same pid left
	defer os.Remove(mark)
	e, err := Start(ctx, cfg)
	require.NoError(t, err)
	defer e.Close(context.Background())
	start := time.Now()
	rep, err := e.Run(ctx, 200)
	require.NoError(t, err, "the render ends")
	t.Logf("%v in %v", rep, time.Since(start))
	require.NotEmpty(t, rep.Failovers, "%v", rep)
	f := rep.Failovers[0]
	assert.Equal(t, "liar", f.Node)
	assert.True(t, f.Watchdog, "failed over by the watchdog")
	assert.Less(t, time.Since(start), 30*time.Second)
}

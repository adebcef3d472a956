//go:build linux

package audio

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

// The benchmarks. Latencies are differences of CLOCK_MONOTONIC readings
// taken in different processes; each benchmark keeps every sample and
// reports nearest-rank percentiles in microseconds. ns/op means nothing
// here. Run them with -benchtime 1000x (see docs/performance.md).

func init() {
	// bench-echo is the floor of a node's wake: a process parked on a
	// futex word in shared memory (as a node is), woken by another
	// process, that stamps the time it woke and wakes the waker back.
	// Word 0: the request (bumped by the waker); word 1: the reply;
	// bytes 8..16: when it woke.
	worker.Register("bench-echo", func(ctx context.Context, w *worker.Worker) error {
		f := worker.ExtraFile(0)
		mem, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return err
		}
		if prio, _ := strconv.Atoi(os.Args[1:][0]); prio > 0 {
			defer linux.SetFIFO(0)
			linux.SetFIFO(prio)
		}
		req := (*uint32)(unsafe.Pointer(&mem[0]))
		rep := (*uint32)(unsafe.Pointer(&mem[4]))
		woke := (*int64)(unsafe.Pointer(&mem[8]))
		stop := context.AfterFunc(ctx, func() { atomic.StoreUint32(req, 1<<31); linux.FutexWake(req, 1) })
		defer stop()
		w.Ready()
		var last uint32
		for {
			v := atomic.LoadUint32(req)
			if v == last {
				linux.FutexWait(req, last, 0)
				continue
			}
			if v == 1<<31 {
				return nil
			}
			atomic.StoreInt64(woke, mono.Now())
			last = v
			atomic.StoreUint32(rep, v)
			linux.FutexWake(rep, 1)
		}
	})
}

func percentiles(b *testing.B, samples []int64, prefix string) {
	if len(samples) == 0 {
		return
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	at := func(p int) float64 { return float64(s[max((len(s)*p+99)/100, 1)-1]) / 1e3 }
	b.ReportMetric(at(50), prefix+"p50-us")
	b.ReportMetric(at(99), prefix+"p99-us")
}

// benchPriorities are the scheduling classes compared: normal, and
// SCHED_FIFO 10 where this process may use it.
func benchPriorities() []int {
	if linux.SetFIFO(1) != nil {
		return []int{0}
	}
	linux.SetFIFO(0)
	return []int{0, 10}
}

// BenchmarkNodeOverhead: per-node cycle overhead, from the moment a node is
// woken to its publication of the block, for a gain node woken by its
// predecessor (node to node, the common case) and for the source woken by
// the driver; beside it, the floor: one process waking another parked on a
// shared futex word, until that one runs.
func BenchmarkNodeOverhead(b *testing.B) {
	for _, prio := range benchPriorities() {
		b.Run(fmt.Sprintf("floor-futex-wake/prio=%d", prio), func(b *testing.B) {
			fd, err := unix.MemfdCreate("bench-echo", unix.MFD_CLOEXEC)
			if err != nil {
				b.Fatal(err)
			}
			f := os.NewFile(uintptr(fd), "bench-echo")
			defer f.Close()
			f.Truncate(4096)
			mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Munmap(mem)
			p, err := procbridge.Start(context.Background(), procbridge.Spec{
				Worker: "bench-echo", Args: []string{strconv.Itoa(prio)}, ExtraFiles: []*os.File{f},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Stop(context.Background())
			req := (*uint32)(unsafe.Pointer(&mem[0]))
			rep := (*uint32)(unsafe.Pointer(&mem[4]))
			woke := (*int64)(unsafe.Pointer(&mem[8]))
			var samples []int64
			var n uint32
			for b.Loop() {
				n++
				t0 := mono.Now()
				atomic.StoreUint32(req, n)
				linux.FutexWake(req, 1)
				for atomic.LoadUint32(rep) != n {
					linux.FutexWait(rep, n-1, 0)
				}
				samples = append(samples, atomic.LoadInt64(woke)-t0)
			}
			percentiles(b, samples, "wake-")
		})
		b.Run(fmt.Sprintf("node/prio=%d", prio), func(b *testing.B) {
			g := Graph{Rate: 48000, BlockSize: 128,
				Nodes: []Node{{Name: "sine", Kind: "sine", Params: Params{"freq": 440}}, {Name: "gain", Kind: "gain"}},
				Edges: []Edge{{From: Port{"sine", 0}, To: Port{"gain", 0}}},
			}
			e, err := Start(context.Background(), Config{Graph: g, Sink: []Port{{"gain", 0}}, Priority: prio, Watchdog: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close(context.Background())
			var gain, src []int64
			e.cycleHook = func(C uint64) {
				for i, to := range []*[]int64{&src, &gain} {
					n, h := e.b.Node(i), e.b.Host(e.t.hostOf[i])
					for l := range e.lanes {
						if r := n.Lane(l); atomic.LoadUint64(r.Done()) == C {
							*to = append(*to, atomic.LoadInt64(r.FinishAt())-atomic.LoadInt64(h.WakeAt()))
						}
					}
				}
			}
			e.Run(context.Background(), 100) // warm up
			gain, src = gain[:0], src[:0]
			var rep Report
			for b.Loop() {
				rep, err = e.Run(context.Background(), 1)
				if err != nil {
					b.Fatal(err)
				}
			}
			percentiles(b, gain, "gain-wake-to-finish-")
			percentiles(b, src, "source-wake-to-finish-")
			b.ReportMetric(float64(rep.CycleP50)/1e3, "cycle-p50-us")
			b.ReportMetric(float64(rep.CycleP99)/1e3, "cycle-p99-us")
		})
	}
}

// BenchmarkGainNodes: how many gain nodes fit in one 128-frame cycle
// (2.67 ms at 48 kHz): a sine source and N gain nodes, either in one chain
// (every node waits for the one before: the worst case) or side by side
// (all fed by the source, run in parallel on the machine's cores). The
// cycle time is from the driver waking the source to the last node's
// publication.
func BenchmarkGainNodes(b *testing.B) {
	for _, prio := range benchPriorities() {
		for _, shape := range []string{"chain", "parallel"} {
			for _, n := range []int{8, 16, 32, 64, 128} {
				b.Run(fmt.Sprintf("%s/n=%d/prio=%d", shape, n, prio), func(b *testing.B) {
					g := Graph{Rate: 48000, BlockSize: 128, Nodes: []Node{{Name: "sine", Kind: "sine", Params: Params{"freq": 440}}}}
					prev := "sine"
					for k := range n {
						name := "g" + strconv.Itoa(k)
						g.Nodes = append(g.Nodes, Node{Name: name, Kind: "gain"})
						g.Edges = append(g.Edges, Edge{From: Port{prev, 0}, To: Port{name, 0}})
						if shape == "chain" {
							prev = name
						}
					}
					rep := benchCycles(b, g, Port{"g0", 0}, prio)
					b.ReportMetric(float64(rep.CycleP99)/float64(n)/1e3, "p99-us/node")
				})
			}
		}
	}
}

// BenchmarkGlitch: glitch metrics over injected faults, in real time, for
// each fault kind, block size and slack. Each iteration injects one fault
// (into src, dly and amp in turn; SIGKILL and SIGSEGV at each point of the
// commit protocol in turn) and plays long enough for the replacement spare
// to come up (100 ms); -benchtime 100x makes 100 injections. At the end the
// whole render is compared with the fault-free reference: glitch-free-%
// is the share of injections whose blocks are bit-identical and on time.
func BenchmarkGlitch(b *testing.B) {
	prio := slices.Max(benchPriorities())
	for _, kind := range []string{"kill", "hang", "overrun", "segv"} {
		for _, block := range []int{64, 128, 256} {
			for _, slack := range []int{1, NoSlack} {
				name := fmt.Sprintf("%s/frames=%d/slack=%d", kind, block, max(slack, 0))
				b.Run(name, func(b *testing.B) { benchGlitch(b, kind, block, slack, prio) })
			}
		}
	}
}

func benchGlitch(b *testing.B, kind string, block, slack, prio int) {
	g, sink := chain(48000, block)
	wav := b.TempDir() + "/out.wav"
	e, err := Start(context.Background(), Config{Graph: g, Sink: sink, WAV: wav, RealTime: true,
		Slack: slack, Priority: prio})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(context.Background())
	period := time.Duration(block) * time.Second / 48000
	per := uint64((100*time.Millisecond + period - 1) / period)
	nodes := []string{"src", "dly", "amp"}
	var k int
	var rep Report
	for b.Loop() {
		f := Fault{Node: nodes[k%3], Cycle: e.cycle + per/2, Kind: kind, Spin: 3 * period}
		if kind == "kill" || kind == "segv" {
			f.Point = faultPoints[(k/3)%len(faultPoints)]
		}
		e.faults = append(e.faults, f)
		k++
		if rep, err = e.Run(context.Background(), per); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(wav)
	if err != nil {
		b.Fatal(err)
	}
	_, ch, got, err := ReadWAV(f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	want, err := Render(&g, sink, int(rep.Cycles))
	if err != nil {
		b.Fatal(err)
	}
	// An injection is glitch-free when its stretch of blocks is identical.
	window := int(per) * block * ch
	clean := 0
	for i := 0; i+window <= len(want) && i+window <= len(got); i += window {
		if slices.Equal(want[i:i+window], got[i:i+window]) {
			clean++
		}
	}
	cmp, _ := Compare(want, got, ch, CompareOptions{})
	var det, sw []int64
	for _, fo := range rep.Failovers {
		det, sw = append(det, int64(fo.Detect)), append(sw, int64(fo.Switch))
	}
	b.ReportMetric(100*float64(clean)/float64(k), "glitch-free-%")
	b.ReportMetric(float64(rep.Late), "late")
	b.ReportMetric(float64(rep.Missing), "missing")
	b.ReportMetric(float64(len(rep.Failovers)), "failovers")
	b.ReportMetric(float64(rep.FaultsStruck), "struck")
	b.ReportMetric(float64(rep.FaultsPostponed), "postponed")
	if cmp.GlitchFree && rep.GlitchFree {
		b.ReportMetric(1, "bit-identical")
	} else {
		b.ReportMetric(0, "bit-identical")
	}
	percentiles(b, det, "detect-")
	percentiles(b, sw, "switch-")
	b.ReportMetric(float64(rep.CycleP99)/1e3, "cycle-p99-us")
}

// BenchmarkSharedProcess: the per-node cost of a chain of light nodes (a
// sine and n gain nodes), each in its own process (every node a futex wake
// and a context switch away from the next) or all the gains in one process
// (Node.Process: one wake for the lot, then plain calls). The cycle time is
// from the driver waking the source to the last node's publication;
// per-node is that over n.
func BenchmarkSharedProcess(b *testing.B) {
	for _, prio := range benchPriorities() {
		for _, n := range []int{4, 16} {
			for _, shared := range []bool{false, true} {
				layout := "separate"
				if shared {
					layout = "shared"
				}
				b.Run(fmt.Sprintf("%s/n=%d/prio=%d", layout, n, prio), func(b *testing.B) {
					g := Graph{Rate: 48000, BlockSize: 128, Nodes: []Node{{Name: "sine", Kind: "sine", Params: Params{"freq": 440}}}}
					prev := "sine"
					for k := range n {
						name := "g" + strconv.Itoa(k)
						node := Node{Name: name, Kind: "gain"}
						if shared {
							node.Process = "light"
						}
						g.Nodes = append(g.Nodes, node)
						g.Edges = append(g.Edges, Edge{From: Port{prev, 0}, To: Port{name, 0}})
						prev = name
					}
					rep := benchCycles(b, g, Port{prev, 0}, prio)
					b.ReportMetric(float64(rep.CycleP50)/float64(n)/1e3, "p50-us/node")
					b.ReportMetric(float64(rep.CycleP99)/float64(n)/1e3, "p99-us/node")
				})
			}
		}
	}
}

// benchCycles runs g offline with sink as its one output, warmed up over
// 100 cycles, then one cycle per benchmark iteration, and reports the
// cycle's p50 and p99 (cycle-p50-us, cycle-p99-us) over those iterations.
func benchCycles(b *testing.B, g Graph, sink Port, prio int) Report {
	b.Helper()
	e, err := Start(context.Background(), Config{Graph: g, Sink: []Port{sink}, Priority: prio, Watchdog: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(context.Background())
	e.Run(context.Background(), 100) // warm up
	e.stats.cycleTimes = e.stats.cycleTimes[:0]
	var rep Report
	for b.Loop() {
		if rep, err = e.Run(context.Background(), 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rep.CycleP50)/1e3, "cycle-p50-us")
	b.ReportMetric(float64(rep.CycleP99)/1e3, "cycle-p99-us")
	return rep
}

//go:build linux

package procbridge_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/deathwatch"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
)

// The eBPF death watch's benchmarks:
//
//	go test -run '^$' -bench 'KernelDeath|KernelWatch' -benchtime 20x ./procbridge/
//
// They need the watch (root, or CAP_BPF and CAP_PERFMON) and skip without
// it.

// envKernelDie starts the test binary as kernelDie: "how:MB".
const envKernelDie = "PB_EBPF_DIE"

// envKernelCgroup names the cgroup v1 memory cgroup kernelDie joins for
// "oom".
const envKernelCgroup = "PB_EBPF_CGROUP"

// kernelDie is a worker without the SDK: it touches MB of heap (every page
// written, so that the kernel has that much to tear down), waits
// benchPause, stores its CLOCK_MONOTONIC mark in the file on its
// descriptor 6 and dies as how says:
// "sigkill" (it SIGKILLs itself), "sigsegv" (a real fault, the default
// action restored behind the Go runtime's back), "exit" (exit code 3),
// or "oom": it joins the memory cgroup envKernelCgroup names and
// allocates until the OOM killer ends it (no mark). No core dumps.
func kernelDie() {
	how, mbs, _ := strings.Cut(os.Getenv(envKernelDie), ":")
	mb, _ := strconv.Atoi(mbs)
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	if how == "oom" {
		if err := os.WriteFile(filepath.Join(os.Getenv(envKernelCgroup), "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for {
			h := make([]byte, 16<<20)
			for i := 0; i < len(h); i += 4096 {
				h[i] = 1
			}
			kernelHeaps = append(kernelHeaps, h) // kept, till the OOM killer comes
		}
	}
	kernelHeap = make([]byte, mb<<20)
	for i := 0; i < len(kernelHeap); i += 4096 {
		kernelHeap[i] = 1
	}
	// The mark goes to the file on descriptor 6 through a shared mapping
	// whose page is faulted in now: at the death it is one store, where a
	// write(2) would add its own 60 µs or so to every figure, and a line
	// on a pipe would wake the bridge's reader of it just as the death
	// comes.
	var mark *int64
	if err := unix.Ftruncate(6, 8); err == nil {
		if m, err := unix.Mmap(6, 0, 8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
			mark = (*int64)(unsafe.Pointer(&m[0]))
			atomic.StoreInt64(mark, 0)
		}
	}
	time.Sleep(benchPause)
	if mark != nil {
		atomic.StoreInt64(mark, mono.Now())
	}
	switch how {
	case "sigkill":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	case "sigsegv":
		resetDefault(syscall.SIGSEGV)
		var p *int
		*p = 1
	case "exit":
		os.Exit(3)
	}
	select {}
}

var (
	kernelHeap  []byte
	kernelHeaps [][]byte
)

// BenchmarkKernelDeathNotice: a worker without the SDK, with 0, 64, 256
// or 512 MB of touched heap, dies by SIGKILL, SIGSEGV, exit(3) or the OOM
// killer (a cgroup v1 memory limit of that size). From its mark (for the
// OOM killer, from the kernel's notice), in one run:
//
//   - ebpf-*: to the Dying the eBPF watch gave (Dying.Time, when the
//     bridge had it);
//   - kernel-*: to when the kernel's program ran (Dying.Kernel);
//   - pidfd-*: to Exit.Time, when the pidfd said the process was gone:
//     what a worker without the SDK had before;
//   - hop-*: from when the kernel's program ran to the Dying, sample by
//     sample (Dying.Time less Dying.Kernel): the bridge's own part, from
//     the ring buffer to the event, whatever the worker did before it
//     died.
//
// sdk/ rows: a worker with the SDK (sb-standby) that marks and SIGKILLs
// itself, with the eBPF watch and without it, in turn: first-* is to the
// Dying that came first with the watch on (futex-first and ebpf-first
// count which), futex-* to the robust futex's Dying with the watch off.
//
// PB_BENCH_WARM=slices holds the death-notice waiters warm through the run,
// as a hot-standby group does; =tick keeps them warm with one goroutine
// ticking as often instead (benchWarm).
func BenchmarkKernelDeathNotice(b *testing.B) {
	needKernelWatch(b)
	defer benchWarm(b)()
	exe := executable(b)
	for _, how := range []string{"sigkill", "sigsegv", "exit", "oom", "sdk"} {
		for _, mb := range []int{0, 64, 256, 512} {
			if how == "oom" && mb == 0 {
				continue
			}
			b.Run(fmt.Sprintf("%s/heap-%dMB", how, mb), func(b *testing.B) {
				if how == "sdk" {
					sdkNotice(b, mb)
					return
				}
				env := append(os.Environ(), fmt.Sprintf("%s=%s:%d", envKernelDie, how, mb))
				if how == "oom" {
					env = append(env, envKernelCgroup+"="+memCgroup(b, mb))
				}
				markFile, err := os.CreateTemp(b.TempDir(), "mark")
				if err != nil {
					b.Fatal(err)
				}
				defer markFile.Close()
				spec := procbridge.Spec{Path: exe, Env: env, ExtraFiles: []*os.File{markFile}}
				var viaEBPF, kernel, pidfd, hop latencies
				missing := 0
				for b.Loop() {
					markFile.Truncate(0)
					p := benchStart(b, spec, procbridge.WatchPidfd)
					d, ex := awaitDying(b, p)
					mark := fileMark(markFile)
					if how == "oom" {
						if d == nil {
							missing++
							continue // no mark to measure from
						}
						mark = mono.Of(d.Kernel)
					}
					if !diedAs(how, ex.Exit) || mark == 0 {
						b.Fatalf("want a death by %s with a mark, got %v (mark %d)", how, ex.Exit, mark)
					}
					pidfd = append(pidfd, mono.Of(ex.Exit.Time)-mark)
					if d == nil {
						// The pidfd came first: a small process's teardown
						// can beat a reader the machine holds up.
						missing++
						continue
					}
					if d.Source != "ebpf" {
						b.Fatalf("a Dying from %q for a worker without the SDK", d.Source)
					}
					viaEBPF = append(viaEBPF, mono.Of(d.Time)-mark)
					kernel = append(kernel, mono.Of(d.Kernel)-mark)
					hop = append(hop, mono.Of(d.Time)-mono.Of(d.Kernel))
				}
				if how != "oom" {
					kernel.report(b, "kernel-")
				}
				b.ReportMetric(float64(missing), "no-dying")
				viaEBPF.report(b, "ebpf-")
				hop.report(b, "hop-")
				pidfd.report(b, "pidfd-")
			})
		}
	}
}

// envBenchWarm holds the death-notice waiters warm through a benchmark:
// "slices" as a hot-standby group does (each waiter's wait cut into
// slices), "tick" with one goroutine ticking every slice instead; unset,
// nothing holds them.
const envBenchWarm = "PB_BENCH_WARM"

// benchWarm holds warm as envBenchWarm says; the returned function ends
// the hold.
func benchWarm(b *testing.B) (release func()) {
	switch v := os.Getenv(envBenchWarm); v {
	case "":
		return func() {}
	case "slices", "tick":
		procbridge.SetWarmTickForTest(v == "tick")
		unhold := procbridge.HoldWarmForTest()
		return func() {
			unhold()
			procbridge.SetWarmTickForTest(false)
		}
	default:
		b.Fatalf("%s=%q: want slices or tick", envBenchWarm, v)
		return nil
	}
}

// awaitDying reads p's events up to Exited, and returns its Dying (nil
// without one) and Exited, once p's bridge is done.
func awaitDying(b *testing.B, p *procbridge.Process) (*procbridge.Dying, procbridge.Exited) {
	var d *procbridge.Dying
	for {
		e, _ := benchEvent(b, p)
		switch e := e.(type) {
		case procbridge.Dying:
			d = &e
		case procbridge.Exited:
			<-p.Done()
			return d, e
		}
	}
}

// diedAs reports whether e is how kernelDie dies for how.
func diedAs(how string, e procbridge.Exit) bool {
	switch how {
	case "sigkill", "oom":
		return e.Signal == syscall.SIGKILL
	case "sigsegv":
		return e.Signal == syscall.SIGSEGV
	case "exit":
		return e.Signal == 0 && e.Code == 3
	}
	return false
}

// sdkNotice is BenchmarkKernelDeathNotice's sdk/ row.
func sdkNotice(b *testing.B, mb int) {
	var first, futex latencies
	var futexFirst, ebpfFirst int
	on := true
	for b.Loop() {
		procbridge.SetKernelWatchForTest(on)
		spec := sbSpec(mb)
		spec.ReadyTimeout = time.Minute // the heap's pages, on a loaded machine
		p := benchStart(b, spec, sbWatch)
		awaitReady(b, p)
		seg, _ := p.Segment()
		if err := seg.Send([]byte("die")); err != nil {
			p.Kill()
			<-p.Done()
			b.Fatal(err)
		}
		d, ex := awaitDying(b, p)
		mark := procbridge.MarkOf(p)
		if d == nil || mark == 0 || ex.Exit.Signal != syscall.SIGKILL {
			b.Fatalf("want a SIGKILL death with a mark and a Dying, got %v (mark %d, dying %v)", ex.Exit, mark, d)
		}
		switch {
		case !on:
			futex = append(futex, mono.Of(d.Time)-mark)
		case d.Source == "ebpf":
			ebpfFirst++
			first = append(first, mono.Of(d.Time)-mark)
		default:
			futexFirst++
			first = append(first, mono.Of(d.Time)-mark)
		}
		on = !on
	}
	procbridge.SetKernelWatchForTest(true)
	first.report(b, "first-")
	futex.report(b, "futex-")
	b.ReportMetric(float64(ebpfFirst), "ebpf-first")
	b.ReportMetric(float64(futexFirst), "futex-first")
}

// memCgroup makes a cgroup v1 memory cgroup limited to mb MB, without
// swap, removed when b ends; it skips b where there is none.
func memCgroup(b *testing.B, mb int) string {
	root := "/sys/fs/cgroup/memory"
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		b.Skipf("no cgroup v1 memory controller at %s: %v", root, err)
	}
	dir := filepath.Join(root, fmt.Sprintf("understudy-bench-oom-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		b.Skipf("cannot make a memory cgroup: %v", err)
	}
	b.Cleanup(func() { os.Remove(dir) })
	for file, v := range map[string]string{"memory.limit_in_bytes": strconv.Itoa(mb << 20), "memory.swappiness": "0"} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0); err != nil {
			b.Skipf("cannot set %s: %v", file, err)
		}
	}
	return dir
}

// BenchmarkKernelWatchIdle: the supervisor's CPU while 100 workers
// without the SDK sleep, with the eBPF watch on and off. PB_BENCH_IDLE
// sets the window (default 2s), PB_BENCH_IDLE_N the workers (default 100;
// 1,000 with -benchtime 1x and a 10s window is the documented figure, and
// no more: they are started, measured and ended in one go).
//
// PB_BENCH_WARM as for BenchmarkKernelDeathNotice.
func BenchmarkKernelWatchIdle(b *testing.B) {
	needKernelWatch(b)
	defer benchWarm(b)()
	window := 2 * time.Second
	if d, err := time.ParseDuration(os.Getenv("PB_BENCH_IDLE")); err == nil {
		window = d
	}
	workers := 100
	if n, err := strconv.Atoi(os.Getenv("PB_BENCH_IDLE_N")); err == nil && n > 0 && n <= 1000 {
		workers = n
	}
	for _, on := range []bool{true, false} {
		b.Run(fmt.Sprintf("watch-%v", on), func(b *testing.B) {
			procbridge.SetKernelWatchForTest(on)
			defer procbridge.SetKernelWatchForTest(true)
			var ps []*procbridge.Process
			defer func() {
				for _, p := range ps {
					p.Kill()
					<-p.Done()
				}
			}()
			for range workers {
				ps = append(ps, benchStart(b, procbridge.Spec{Path: "sleep", Args: []string{"1000"}, Stdout: procbridge.Discard, Stderr: procbridge.Discard}))
			}
			var pct float64
			for b.Loop() {
				before, at := selfCPU(), mono.Now()
				time.Sleep(window) // the window the CPU is measured over
				pct = float64(selfCPU()-before) / float64(mono.Now()-at) * 100
			}
			b.ReportMetric(pct, "cpu-pct")
		})
	}
}

// selfCPU is this process's CPU time, in ns.
func selfCPU() int64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkKernelWatchStorm: the cost of the eBPF watch's programs, which
// run for every signal and exit on the machine, during a storm of short
// processes nobody watches: a shell starts /bin/true 1,000 times while one
// worker is watched (so the programs are attached). The kernel counts the
// programs' run time (BPF_ENABLE_STATS): bpf-ns-per-run is one program
// run, bpf-us-per-proc the programs' time per process of the storm, and
// core-pct-at-1000ps the share of one core they would take at 1,000
// processes a second.
func BenchmarkKernelWatchStorm(b *testing.B) {
	needKernelWatch(b)
	stop, err := deathwatch.EnableStats()
	if err != nil {
		b.Skipf("the kernel does not count BPF run time: %v", err)
	}
	defer stop()
	p := benchStart(b, procbridge.Spec{Path: "sleep", Args: []string{"1000"}})
	defer func() { p.Kill(); <-p.Done() }()
	const procs = 1000
	var run time.Duration
	var runs uint64
	var wall int64
	for b.Loop() {
		run0, runs0, err := procbridge.KernelWatchStats()
		if err != nil {
			b.Fatal(err)
		}
		at := mono.Now()
		storm := exec.Command("sh", "-c", fmt.Sprintf("i=0; while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done", procs))
		if err := storm.Run(); err != nil {
			b.Fatal(err)
		}
		wall += mono.Now() - at
		run1, runs1, err := procbridge.KernelWatchStats()
		if err != nil {
			b.Fatal(err)
		}
		run += run1 - run0
		runs += runs1 - runs0
	}
	n := float64(b.N * procs)
	b.ReportMetric(float64(run.Nanoseconds())/float64(max(runs, 1)), "bpf-ns-per-run")
	b.ReportMetric(float64(runs)/n, "runs-per-proc")
	b.ReportMetric(float64(run.Nanoseconds())/n/1e3, "bpf-us-per-proc")
	b.ReportMetric(float64(run.Nanoseconds())/n*1000/1e9*100, "core-pct-at-1000ps")
	b.ReportMetric(n/(float64(wall)/1e9), "procs-per-s")
}

// fileMark reads the mark kernelDie wrote to f (0 without one).
func fileMark(f *os.File) int64 {
	var buf [8]byte
	if n, _ := f.ReadAt(buf[:], 0); n < len(buf) {
		return 0
	}
	return int64(binary.NativeEndian.Uint64(buf[:]))
}

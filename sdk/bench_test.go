//go:build linux

package sdk_test

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
)

// The benchmarks run every SDK's row in one loop, one sample of each per
// iteration in turn, so that a burst of load on the machine falls on all
// of them alike: their figures compare. Each metric is prefixed with the
// row's name.

// benchPause lets the watchers (the supervisor's, a spare) park before a
// kill, so that each sample measures a wake from sleep.
const benchPause = 2 * time.Millisecond

// settle is the pause before a takeover sample: a replacement spare said
// Ready before it parked, and a Go one's runtime is still starting then;
// the next sample, another SDK's, must not pay for it.
const settle = 20 * time.Millisecond

// latencies are samples in ns.
type latencies []int64

func (l latencies) report(b *testing.B, prefix string) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	at := func(q float64) float64 { return float64(s[int(q*float64(len(s)-1))]) / 1e3 }
	b.ReportMetric(at(0.50), prefix+"p50-µs")
	b.ReportMetric(at(0.99), prefix+"p99-µs")
}

// benchRow is an SDK row with its program, for a benchmark.
type benchRow struct {
	name string
	prog program
}

// benchRows returns the rows whose tool is present (all of them, or a
// failure, under UNDERSTUDY_SDK_REQUIRED=1).
func benchRows(b *testing.B) []benchRow {
	rowsMu.Lock()
	rs := slices.Clone(rows)
	rowsMu.Unlock()
	var out []benchRow
	for _, r := range rs {
		if r.tool != "" && os.Getenv(envRequired) != "1" {
			if _, err := exec.LookPath(r.tool); err != nil {
				b.Logf("%s: left out, %s is missing", r.name, r.tool)
				continue
			}
		}
		out = append(out, benchRow{r.name, r.program(b)})
	}
	return out
}

// BenchmarkDeathNotice: each SDK's beat worker is SIGKILLed; <sdk>-dying-*
// is from just before the kill to the Dying event (the robust words, as
// the bridge stamped it), <sdk>-exited-* to Exited (the pidfd).
func BenchmarkDeathNotice(b *testing.B) {
	rs := benchRows(b)
	dying := make([]latencies, len(rs))
	exited := make([]latencies, len(rs))
	missing := make([]int, len(rs))
	for b.Loop() {
		for i, r := range rs {
			dy, ex := deathSample(b, r.prog)
			exited[i] = append(exited[i], ex)
			if dy < 0 {
				missing[i]++
				continue
			}
			dying[i] = append(dying[i], dy)
		}
	}
	for i, r := range rs {
		dying[i].report(b, r.name+"-dying-")
		exited[i].report(b, r.name+"-exited-")
		if missing[i] > 0 {
			b.ReportMetric(float64(missing[i]), r.name+"-no-dying")
		}
	}
	b.ReportMetric(0, "ns/op") // each op starts and kills processes: not a figure
}

// deathSample starts a beat worker, kills it, and returns the latencies of
// Dying (-1 when none came) and Exited from the kill.
func deathSample(b *testing.B, prog program) (dying, exited int64) {
	spec := prog.spec("beat")
	// A worker building a large heap on a loaded machine can take longer
	// than the default to be ready; its start is not what is measured.
	spec.ReadyTimeout = deadline
	p, err := procbridge.Start(context.Background(), spec)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(benchPause)
	t0 := mono.Now()
	syscall.Kill(p.Pid(), syscall.SIGKILL)
	dying = -1
	timeout := time.After(deadline)
	for {
		select {
		case ev := <-p.Events():
			switch ev := ev.(type) {
			case procbridge.Dying:
				dying = mono.Of(ev.Time) - t0
			case procbridge.Exited:
				<-p.Done()
				return dying, mono.Of(ev.Exit.Time) - t0
			}
		case <-timeout:
			b.Fatalf("pid %d: no Exited after %v", p.Pid(), deadline)
		}
	}
}

// BenchmarkTakeover: a group of each SDK's counter workers with one
// spare; the primary is SIGKILLed, and <sdk>-takeover-* is from just
// before the kill to the spare's first instruction after its promotion
// (the time it leaves in its lane's mark word), <sdk>-promoted-* to the
// group's Promoted event (Switched). Each sample waits for the
// replacement spare to be ready before the next.
func BenchmarkTakeover(b *testing.B) {
	rs := benchRows(b)
	groups := make([]*procbridge.Group, len(rs))
	for i, r := range rs {
		spec := r.prog.spec("counter")
		spec.StateSize = 8
		spec.Stdout = procbridge.Discard
		g, err := procbridge.StartGroup(context.Background(), spec, 1)
		if err != nil {
			b.Fatal(err)
		}
		groups[i] = g
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		for _, g := range groups {
			g.Stop(ctx)
		}
	}()
	takeover := make([]latencies, len(rs))
	promoted := make([]latencies, len(rs))
	dying := make([]latencies, len(rs))
	byKernel := make([]int, len(rs))
	for b.Loop() {
		for i, g := range groups {
			time.Sleep(settle)
			old := g.Primary()
			t0 := mono.Now()
			syscall.Kill(old.Pid(), syscall.SIGKILL)
			pr := awaitGroupEvent[procbridge.Promoted](b, g)
			if pr.ByKernel {
				byKernel[i]++
			}
			promoted[i] = append(promoted[i], mono.Of(pr.Switched)-t0)
			if d, ok := pr.Cause.(procbridge.Dying); ok {
				dying[i] = append(dying[i], mono.Of(d.Time)-t0)
			}
			neu := g.Primary()
			_, lane := neu.Segment()
			mark := laneMark(b, neu.Pid(), lane)
			if mark < t0 {
				b.Fatalf("%s: the new primary's mark %d is before the kill %d", rs[i].name, mark, t0)
			}
			takeover[i] = append(takeover[i], mark-t0)
			awaitGroupEvent[procbridge.SpareReady](b, g)
		}
	}
	for i, r := range rs {
		takeover[i].report(b, r.name+"-takeover-")
		promoted[i].report(b, r.name+"-promoted-")
		dying[i].report(b, r.name+"-dying-")
		b.ReportMetric(float64(byKernel[i])/float64(max(len(takeover[i]), 1)), r.name+"-by-kernel")
	}
	b.ReportMetric(0, "ns/op")
}

// laneMark reads the mark word (offset 16) of lane in the segment of the
// worker pid, which holds it as descriptor 3: the benchmark takes a copy
// of the descriptor (pidfd_getfd) and maps the segment. A promoted spare
// writes its mark just after its promotion, which the group may report
// first: laneMark waits for it.
func laneMark(b *testing.B, pid, lane int) int64 {
	b.Helper()
	mem, unmap := mapSegment(b, pid)
	defer unmap()
	lanesOff := binary.LittleEndian.Uint64(mem[56:])
	word := (*int64)(unsafe.Pointer(&mem[lanesOff+uint64(lane)*512+16]))
	end := time.Now().Add(deadline)
	for {
		if m := atomic.LoadInt64(word); m != 0 {
			return m
		}
		if time.Now().After(end) {
			b.Fatalf("pid %d left no mark in lane %d within %v", pid, lane, deadline)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// mapSegment maps, read-only, the segment of the worker pid, which holds
// it as descriptor 3: a copy of the descriptor (pidfd_getfd) is mapped.
// unmap undoes the mapping.
func mapSegment(b testing.TB, pid int) (mem []byte, unmap func()) {
	b.Helper()
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		b.Fatalf("pidfd of %d: %v", pid, err)
	}
	defer unix.Close(pfd)
	fd, err := unix.PidfdGetfd(pfd, 3, 0)
	if err != nil {
		b.Fatalf("the segment of %d: %v", pid, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		b.Fatal(err)
	}
	mem, err = unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		b.Fatal(err)
	}
	return mem, func() { unix.Munmap(mem) }
}

// awaitGroupEvent returns g's next event of type T, skipping others; the
// group's end or the deadline fails the benchmark.
func awaitGroupEvent[T procbridge.Event](b *testing.B, g *procbridge.Group) T {
	b.Helper()
	timeout := time.NewTimer(deadline)
	defer timeout.Stop()
	for {
		select {
		case e, ok := <-g.Events():
			if !ok {
				b.Fatal("group events closed")
			}
			if x, ok := e.(T); ok {
				return x
			}
			if ex, ok := e.(procbridge.Exited); ok {
				b.Fatalf("group down: %v", ex)
			}
		case <-timeout.C:
			var zero T
			b.Fatalf("no %T within %v", zero, deadline)
		}
	}
}

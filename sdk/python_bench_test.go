//go:build linux

package sdk_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
)

// pyHeapMB is the Python heap of the benchmark's large-heap rows.
const pyHeapMB = 256

// pyParked is how long a takeover sample's spare has been parked at least
// when its primary is killed. A spare in service parks for minutes; how
// long it parked matters (on a virtual machine with paravirtualised
// memory, a process that slept for more than a few hundred milliseconds
// took up to 1.8 ms longer to wake), and without a floor it depends on
// what ran before: a row sampled alone parks its replacement spare for
// the settle pause only, the same row beside the others for seconds.
const pyParked = time.Second

// BenchmarkPython: the Python package's death notice and spare takeover,
// with no heap and with pyHeapMB MB of Python objects, beside the Go SDK
// and the C SDK (when cc is there) and beside the design the project grew from (a Python multiprocessing
// supervisor that polls the worker's sentinel every 2 ms and wakes a
// standby through an Event: testdata/oldway), in one run:
//
//	go test -run '^$' -bench Python -benchtime 100x -timeout 60m ./sdk/
//
// Each sub-benchmark takes one sample of each of its rows per iteration in
// turn, so that load on the machine falls on all alike, and runs only its
// own processes.
//
//   - death: a beat worker of go, c, python and python-256MB is
//     SIGKILLed; <row>-dying-* is from just before the kill to the Dying
//     event.
//   - takeover: a counter group of each with one spare; the primary is
//     SIGKILLed once its spare has parked for pyParked; <row>-takeover-*
//     is to the spare's first instruction after its promotion (the mark it
//     leaves in its lane), <row>-detect-* to the supervisor's learning of
//     the death (Promoted.Detected), <row>-by-kernel the share of
//     promotions the kernel's robust-futex wake made before the supervisor
//     did.
//   - parked: a counter group of each with one spare, every spare parked
//     at once; <row>-parked-cpu-% is the CPU its parked spare used, as a
//     share of one CPU, over pyParked an iteration.
//   - oldway: oldway-<mode>[-256MB]-noticed-* is to the old supervisor
//     noticing the death, -active-* to its standby's first instruction
//     after activation, for the 2 ms poll (poll) and for the old code's wait
//     with a 2 ms timeout (wait).
func BenchmarkPython(b *testing.B) {
	py := pyProgram(b)
	big := py
	big.Env = append(big.Env[:len(big.Env):len(big.Env)], "UNDERSTUDY_SCENARIO_HEAP_MB="+strconv.Itoa(pyHeapMB))
	rs := []benchRow{{"go", goProgram(b)}}
	if _, err := exec.LookPath("cc"); err == nil || os.Getenv(envRequired) == "1" {
		rs = append(rs, benchRow{"c", cProgram(b)})
	}
	rs = append(rs, benchRow{"python", py}, benchRow{fmt.Sprintf("python-%dMB", pyHeapMB), big})
	b.Run("death", func(b *testing.B) {
		dying := make([]latencies, len(rs))
		for b.Loop() {
			for i, r := range rs {
				if dy, _ := deathSample(b, r.prog); dy >= 0 {
					dying[i] = append(dying[i], dy)
				}
			}
		}
		for i, r := range rs {
			dying[i].report(b, r.name+"-dying-")
		}
		b.ReportMetric(0, "ns/op") // each op starts and kills processes: not a figure
	})
	b.Run("takeover", func(b *testing.B) { benchPyTakeover(b, rs) })
	b.Run("parked", func(b *testing.B) { benchPyParked(b, rs) })
	b.Run("oldway", func(b *testing.B) {
		type oldRow struct {
			name string
			s    *oldway
		}
		var olds []oldRow
		for _, mode := range []string{"poll", "wait"} {
			for _, mb := range []int{0, pyHeapMB} {
				name := "oldway-" + mode
				if mb > 0 {
					name += fmt.Sprintf("-%dMB", mb)
				}
				s := startOldway(b, py, mode, mb)
				defer s.stop()
				olds = append(olds, oldRow{name, s})
			}
		}
		noticed := make([]latencies, len(olds))
		active := make([]latencies, len(olds))
		for b.Loop() {
			for i, s := range olds {
				n, a := s.s.sample(b)
				noticed[i] = append(noticed[i], n)
				active[i] = append(active[i], a)
			}
		}
		for i, s := range olds {
			noticed[i].report(b, s.name+"-noticed-")
			active[i].report(b, s.name+"-active-")
		}
		b.ReportMetric(0, "ns/op")
	})
}

// counterGroups starts a counter group with one spare for each row; stop
// stops them.
func counterGroups(b *testing.B, rs []benchRow) (groups []*procbridge.Group, stop func()) {
	groups = make([]*procbridge.Group, len(rs))
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		for _, g := range groups {
			if g != nil {
				g.Stop(ctx)
			}
		}
	}
	for i, r := range rs {
		spec := r.prog.spec("counter")
		spec.StateSize = 8
		spec.Stdout = procbridge.Discard
		spec.ReadyTimeout = deadline // a large heap's start, loaded, is not measured
		g, err := procbridge.StartGroup(context.Background(), spec, 1)
		if err != nil {
			stop()
			b.Fatal(err)
		}
		groups[i] = g
	}
	return groups, stop
}

// benchPyParked reports the CPU each row's parked spare uses: per
// iteration, pyParked of every spare parked at once.
func benchPyParked(b *testing.B, rs []benchRow) {
	groups, stop := counterGroups(b, rs)
	defer stop()
	spares := make([]int, len(rs))
	for i, g := range groups {
		awaitParked(b, g)
		spares[i] = g.Spares()[0].Pid()
	}
	time.Sleep(pyParked) // past the spares' start (a Go runtime's threads)
	used := make([]int64, len(rs))
	var span int64
	for b.Loop() {
		t0 := mono.Now()
		for i, pid := range spares {
			used[i] -= linux.ProcessCPU(pid)
		}
		time.Sleep(pyParked)
		for i, pid := range spares {
			used[i] += linux.ProcessCPU(pid)
		}
		span += mono.Now() - t0
	}
	for i, r := range rs {
		b.ReportMetric(100*float64(used[i])/float64(span), r.name+"-parked-cpu-%")
	}
	b.ReportMetric(0, "ns/op")
}

func benchPyTakeover(b *testing.B, rs []benchRow) {
	groups, stop := counterGroups(b, rs)
	defer stop()
	takeover := make([]latencies, len(rs))
	detect := make([]latencies, len(rs))
	byKernel := make([]int, len(rs))
	parked := make([]time.Time, len(rs)) // when each group's spare said Ready
	for i := range parked {
		parked[i] = time.Now()
	}
	for b.Loop() {
		for i, r := range rs {
			lat, det, k := takeoverSample(b, r.name, groups[i], &parked[i])
			takeover[i] = append(takeover[i], lat)
			detect[i] = append(detect[i], det)
			if k {
				byKernel[i]++
			}
		}
	}
	for i, r := range rs {
		takeover[i].report(b, r.name+"-takeover-")
		detect[i].report(b, r.name+"-detect-")
		b.ReportMetric(float64(byKernel[i])/float64(max(len(takeover[i]), 1)), r.name+"-by-kernel")
	}
	b.ReportMetric(0, "ns/op")
}

// takeoverSample SIGKILLs g's primary once its spare has parked for
// pyParked since *parked (when it said Ready) and returns the time from
// just before the kill to the spare's first instruction after the
// promotion, and to the supervisor's detection, and whether the kernel's
// wake promoted it; then it waits for the replacement spare and sets
// *parked to when it said Ready.
func takeoverSample(b *testing.B, name string, g *procbridge.Group, parked *time.Time) (lat, detect int64, byKernel bool) {
	old := g.Primary()
	awaitParked(b, g)
	// The previous row's replacement spare may still be starting (a Go
	// runtime's threads): let it settle, so that this row does not pay.
	time.Sleep(max(settle, pyParked-time.Since(*parked)))
	t0 := mono.Now()
	syscall.Kill(old.Pid(), syscall.SIGKILL)
	pr := awaitGroupEvent[procbridge.Promoted](b, g)
	neu := g.Primary()
	_, lane := neu.Segment()
	// Promoted can come before the spare has run: wait for its mark.
	end := time.Now().Add(deadline)
	mark := laneMark(b, neu.Pid(), lane)
	for mark < t0 && time.Now().Before(end) {
		time.Sleep(time.Millisecond)
		mark = laneMark(b, neu.Pid(), lane)
	}
	if mark < t0 {
		b.Fatalf("%s: no mark from the new primary after %v", name, deadline)
	}
	awaitSpare(b, name, g)
	*parked = time.Now()
	return mark - t0, mono.Of(pr.Detected) - t0, pr.ByKernel
}

// awaitSpare waits for g's replacement spare: a Python spare with a large
// heap can take longer than the suite's deadline to start on a loaded
// machine, and one that failed is started again by the group.
func awaitSpare(b *testing.B, name string, g *procbridge.Group) {
	b.Helper()
	timeout := time.NewTimer(4 * deadline)
	defer timeout.Stop()
	for {
		select {
		case e, ok := <-g.Events():
			if !ok {
				b.Fatalf("%s: group events closed", name)
			}
			switch e := e.(type) {
			case procbridge.SpareReady:
				return
			case procbridge.SpareDown:
				b.Logf("%s: %v", name, e)
			case procbridge.Exited:
				b.Fatalf("%s: group down: %v", name, e)
			}
		case <-timeout.C:
			b.Fatalf("%s: no replacement spare within %v", name, 4*deadline)
		}
	}
}

// awaitParked waits until g's spare sleeps on its robust word in the
// primary's lane (it set FUTEX_WAITERS there), so that every sample
// measures a spare the kernel can wake: a Python spare says Ready a few
// milliseconds before it parks on a busy machine.
func awaitParked(b testing.TB, g *procbridge.Group) {
	b.Helper()
	primary := g.Primary()
	_, plane := primary.Segment()
	_, slane := g.Spares()[0].Segment()
	mem, unmap := mapSegment(b, primary.Pid())
	defer unmap()
	lanesOff := binary.LittleEndian.Uint64(mem[56:])
	word := (*uint32)(unsafe.Pointer(&mem[lanesOff+uint64(plane)*512+192+16*uint64(1+slane)+8]))
	end := time.Now().Add(deadline)
	for atomic.LoadUint32(word)&0x80000000 == 0 {
		if time.Now().After(end) {
			b.Fatalf("the spare did not park within %v", deadline)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// oldway is testdata/oldway/oldway.py running, one sample per line.
type oldway struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startOldway(b *testing.B, py program, mode string, mb int) *oldway {
	script, err := filepath.Abs(filepath.Join("testdata", "oldway", "oldway.py"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(py.Path, script, mode, strconv.Itoa(mb))
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s := &oldway{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	if !s.out.Scan() || s.out.Text() != "ready" {
		s.stop()
		b.Fatalf("oldway.py %s: not ready: %q", mode, s.out.Text())
	}
	return s
}

func (s *oldway) sample(b *testing.B) (noticed, active int64) {
	if _, err := io.WriteString(s.in, "\n"); err != nil {
		b.Fatal(err)
	}
	if !s.out.Scan() {
		b.Fatalf("oldway.py ended: %v", s.out.Err())
	}
	if _, err := fmt.Sscanf(s.out.Text(), "%d %d", &noticed, &active); err != nil {
		b.Fatalf("oldway.py said %q", s.out.Text())
	}
	return noticed, active
}

func (s *oldway) stop() {
	s.in.Close() // the script ends at the end of its input
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(deadline):
		s.cmd.Process.Kill()
		<-done
	}
}

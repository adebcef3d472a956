//go:build linux

package audio

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/hang"
	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/internal/testproc"
)

// TestSpinFIFOHeldOffCPU: the in-cycle watchdog's look at a SCHED_FIFO
// node runnable past its deadline. A node spinning on its CPU is an
// overrun at that look. Held off its CPU by a busy loop above it (and
// below the driver), or by one above the driver too (as a host holding
// the virtual CPU does), it is runnable all the same and not on a CPU: it
// is held up, looked at again, and not called spinning. The node is a
// shell's busy loop in SCHED_FIFO, pinned to the CPU its holders are
// pinned to; the look runs on another CPU, as the driver does.
func TestSpinFIFOHeldOffCPU(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs: the look's and the node's")
	}
	const nodePrio, driverPrio = 10, 30
	if err := linux.SetFIFO(1); err != nil {
		t.Skipf("no SCHED_FIFO here: %v", err)
	}
	linux.SetFIFO(0)
	cpu := runtime.NumCPU() - 1

	ps := startProbes(driverPrio)
	defer ps.stop()
	// The look runs on CPU 0, as the driver runs on a CPU of its own.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all, zero unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &all))
	zero.Set(0)
	require.NoError(t, unix.SchedSetaffinity(0, &zero))
	defer unix.SchedSetaffinity(0, &all)
	spinHeldOffCPU(t, ps, cpu, nodePrio)
}

func spinHeldOffCPU(t *testing.T, ps *cpuProbes, cpu, nodePrio int) {
	for end := time.Now().Add(testDeadline); !ps.cpu[cpu].up.Load(); {
		require.True(t, time.Now().Before(end), "the prober of CPU %d never came up", cpu)
		time.Sleep(time.Millisecond)
	}
	node := testproc.SpinOn(t, cpu, nodePrio)
	defer testproc.StopSpin(node)
	testproc.WaitSpinning(t, node, cpu)

	// The driver's policy at 64 frames, 48 kHz, one block of slack: a
	// 667 µs watchdog, 167 µs windows.
	p := hang.Policy{Timeout: 667_000, Window: 167_000, BusyWindow: 167_000, Cap: 2_667_000}
	// look is the driver's look at the node past its deadline, a window
	// after the last (each probe brings the node's time up to date); the
	// probe's limit is generous here (a loaded test machine), the
	// decision the same.
	last := mono.Now()
	look := func() (hang.Verdict, cpuLook, int64) {
		linux.SleepUntil(last + p.Window)
		last = mono.Now()
		task, ok := linux.ReadTask(node.Process.Pid, node.Process.Pid)
		require.True(t, ok, "the node is gone")
		require.Equal(t, byte('R'), task.State)
		start := mono.Now()
		probe := ps.look(node.Process.Pid, node.Process.Pid, task, start+int64(2*time.Millisecond))
		took := mono.Now() - start
		now := mono.Now()
		v := hang.Judge(p, hang.Sample{
			Now: now, Progress: now - p.Timeout, Due: now, Busy: true,
			Runnable: probe.task.State == 'R', InKernel: probe.task.State == 'D', FIFO: true,
			Probed: probe.probed, ProbeRan: probe.ran,
		})
		return v, probe, took
	}

	// Spinning on its CPU: an overrun, at once. A host that stops the
	// CPU for the probe's whole limit makes it held at that look, as it
	// is; no more than a few of twenty.
	var took []int64
	spinning := 0
	for range 20 {
		v, probe, d := look()
		require.True(t, probe.probed)
		if v == (hang.Verdict{Step: hang.Hung, Kind: hang.Spinning}) {
			spinning++
		} else {
			assert.Equal(t, hang.Starved, v.Step, "a spinner on its CPU, neither spinning nor held: %+v", v)
		}
		took = append(took, d)
	}
	assert.GreaterOrEqual(t, spinning, 15, "a spinner on its CPU called spinning at %d looks of 20", spinning)
	slices.Sort(took)
	t.Logf("probe of a live CPU: p50 %v, p90 %v, max %v", time.Duration(took[len(took)/2]),
		time.Duration(took[len(took)*9/10]), time.Duration(took[len(took)-1]))

	// Held off its CPU by a loop above it and below the driver: the
	// prober runs, the node's time does not move.
	holder := testproc.SpinOn(t, cpu, nodePrio+5)
	defer testproc.StopSpin(holder)
	testproc.WaitSpinning(t, holder, cpu)
	for range 20 {
		v, probe, _ := look()
		require.True(t, probe.probed)
		assert.Zero(t, probe.ran, "CPU accrued by a node held off its CPU")
		assert.Equal(t, hang.Starved, v.Step, "a node held off its CPU by a loop above it: %+v", v)
	}

	// Held by a loop above the driver too, as by a host that does not run
	// the CPU: the prober does not run.
	fifo := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 99}
	require.NoError(t, unix.SchedSetAttr(holder.Process.Pid, &fifo, 0))
	for range 5 {
		v, probe, _ := look()
		require.True(t, probe.probed)
		assert.Zero(t, probe.ran, "CPU accrued by a node on a CPU held above the driver")
		assert.Equal(t, hang.Starved, v.Step, "a node on a CPU held above the driver: %+v", v)
	}

	// Let go, the node spins again: an overrun at its first look.
	testproc.StopSpin(holder)
	testproc.WaitSpinning(t, node, cpu)
	spinning = 0
	for range 5 {
		if v, _, _ := look(); v == (hang.Verdict{Step: hang.Hung, Kind: hang.Spinning}) {
			spinning++
		}
	}
	assert.GreaterOrEqual(t, spinning, 4, "the spinner, let go, called spinning at %d looks of 5", spinning)
}

//go:build linux

package procbridge_test

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"

	"github.com/understudy/understudy/procbridge"
)

// TestCPUStalled: before it calls a worker asleep, the hang monitor asks
// the CPUs its threads last ran on to run a thread of its own. A live CPU
// runs it; one held by a SCHED_FIFO 99 thread, as a CPU the host stopped
// running, runs nothing of the monitor's priority, and is found stalled.
func TestCPUStalled(t *testing.T) {
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	// Up before the CPU is held: a prober has to run to start.
	procbridge.StartCPUProbersForTest(time.Now().Add(deadline))
	defer procbridge.StopCPUProbersForTest()
	// A machine that stalls (a noisy host) may hold a live CPU past the
	// limit now and then: one ask of several is enough.
	live := false
	for try := 0; try < 20 && !live; try++ {
		stalled, up := procbridge.CPUsStalledForTest(cpus...)
		require.Equal(t, len(cpus), up, "a prober on every CPU")
		live = !stalled
	}
	assert.True(t, live, "live CPUs found stalled in 20 asks")

	// The holder is a process of its own: a goroutine spinning in this
	// one would be preempted by the Go runtime, and its thread parked.
	cpu := len(cpus) - 1
	spin := exec.Command("sh", "-c", "while :; do :; done")
	spin.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, spin.Start())
	defer func() { spin.Process.Kill(); spin.Wait() }()
	var set unix.CPUSet
	set.Set(cpu)
	require.NoError(t, unix.SchedSetaffinity(spin.Process.Pid, &set))
	fifo := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 99}
	if err := unix.SchedSetAttr(spin.Process.Pid, &fifo, 0); err != nil {
		t.Skipf("no SCHED_FIFO 99 here: %v", err)
	}
	// Spinning on its CPU, past its start (the shell's exec, its page
	// faults), before the prober is asked.
	var run0 int64 = -1
	for end := time.Now().Add(deadline); ; {
		task, ok := linux.ReadTask(spin.Process.Pid, spin.Process.Pid)
		require.True(t, ok, "the spinner is gone")
		if task.State == 'R' && task.CPU == cpu {
			if run0 < 0 {
				run0 = task.Run
			} else if task.Run-run0 >= int64(5*time.Millisecond) {
				break
			}
		}
		require.True(t, time.Now().Before(end), "the spinner never spun on CPU %d", cpu)
		time.Sleep(time.Millisecond)
	}
	stalled, up := procbridge.CPUsStalledForTest(cpu)
	spin.Process.Kill()
	assert.Equal(t, 1, up)
	assert.True(t, stalled, "CPU %d, held by a SCHED_FIFO 99 process, ran the prober", cpu)
}

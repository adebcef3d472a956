//go:build linux

package procbridge_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/testproc"

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

	// The holder, a busy loop of its own, on the last CPU.
	cpu := len(cpus) - 1
	spin := testproc.SpinOn(t, cpu, 99)
	testproc.WaitSpinning(t, spin, cpu) // past its start, before the prober is asked
	stalled, up := procbridge.CPUsStalledForTest(cpu)
	testproc.StopSpin(spin)
	assert.Equal(t, 1, up)
	assert.True(t, stalled, "CPU %d, held by a SCHED_FIFO 99 process, ran the prober", cpu)
}

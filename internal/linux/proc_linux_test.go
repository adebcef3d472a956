package linux

import (
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestReadTask reads the calling thread: running, so runnable, with CPU
// time; through kept files as through a fresh read; and a thread that does
// not exist is reported gone.
func TestReadTask(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, tid := os.Getpid(), Gettid()

	task, ok := ReadTask(pid, tid)
	require.True(t, ok)
	assert.Equal(t, byte('R'), task.State, "a thread reading its own stat is running")
	assert.Positive(t, task.Run)
	assert.Positive(t, task.Slices, "put on a CPU at least once")
	assert.Zero(t, task.Flags&PFExiting)

	f, ok := OpenTask(pid, tid)
	require.True(t, ok)
	again := f.Read()
	f.Close()
	f.Close()
	assert.Equal(t, byte('R'), again.State)
	assert.GreaterOrEqual(t, again.Run, task.Run)
	assert.GreaterOrEqual(t, again.Voluntary, int64(0), "the status's voluntary_ctxt_switches")
	assert.Equal(t, int64(-1), task.Voluntary, "ReadTask does not read the status")

	var all unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &all))
	defer unix.SchedSetaffinity(0, &all)
	for _, cpu := range []int{0, runtime.NumCPU() - 1} {
		var set unix.CPUSet
		set.Set(cpu)
		require.NoError(t, unix.SchedSetaffinity(0, &set))
		task, _ := ReadTaskStat(pid, tid)
		assert.Equal(t, cpu, task.CPU, "the CPU it runs on")
		f, _ := OpenTask(pid, tid)
		assert.Equal(t, cpu, f.Read().CPU, "the CPU it runs on, through kept files")
		f.Close()
	}

	_, ok = ReadTask(pid, 1<<30)
	assert.False(t, ok)
	_, ok = ReadTaskStat(pid, 1<<30)
	assert.False(t, ok)
	_, ok = OpenTask(pid, 1<<30)
	assert.False(t, ok)

	allocs := testing.AllocsPerRun(100, func() { ReadTask(pid, tid) })
	assert.Zero(t, allocs, "ReadTask allocates")
}

// TestEachTask lists the calling thread among the process's.
func TestEachTask(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tids []int
	require.True(t, EachTask(os.Getpid(), func(tid int) { tids = append(tids, tid) }))
	assert.True(t, slices.Contains(tids, Gettid()), "%v", tids)
	assert.True(t, slices.Contains(tids, os.Getpid()), "the leader: %v", tids)
	assert.False(t, EachTask(1<<30, func(int) {}))
}

// TestReadSmall reads the start of a /proc file, and nothing of one that
// does not exist.
func TestReadSmall(t *testing.T) {
	var buf [128]byte
	assert.NotEmpty(t, ReadSmall([]byte("/proc/loadavg\x00"), buf[:]))
	assert.Nil(t, ReadSmall([]byte("/proc/no-such-file\x00"), buf[:]))
}

// TestProcessCPU: this process has used some CPU.
func TestProcessCPU(t *testing.T) {
	assert.Positive(t, ProcessCPU(os.Getpid()))
}

// TestTaskClock: a counter on a thread of this process counts its CPU, or
// the kernel refuses counters.
func TestTaskClock(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer SetTaskClocksUsable(TaskClocksUsable())
	fd, err := OpenTaskClock(Gettid())
	if err != nil {
		t.Skipf("no task clock: %v", err)
	}
	defer CloseTaskClock(fd)
	a, ok := ReadTaskClock(fd)
	require.True(t, ok)
	for x := 0; x < 1e6; x++ {
		_ = x * x
	}
	b, ok := ReadTaskClock(fd)
	require.True(t, ok)
	assert.Greater(t, b, a)
	KeepTaskClocks()
	KeepTaskClocks()
	ReleaseTaskClocks()
	ReleaseTaskClocks()
}

// TestGroupEnding: a death notice for a live thread, or for a thread that
// exited alone while the process goes on, is not an ending process.
func TestGroupEnding(t *testing.T) {
	assert.False(t, GroupEnding(os.Getpid(), Gettid()), "a live thread")
	// A thread of its own (not the main one, which the runtime never ends)
	// that exits with its goroutine.
	gone := os.Getpid()
	for gone == os.Getpid() {
		tids := make(chan int)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			tids <- Gettid()
		}()
		gone = <-tids
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, ok := ReadTaskStat(os.Getpid(), gone); !ok {
			break
		}
		require.True(t, time.Now().Before(deadline), "thread %d did not exit", gone)
		runtime.Gosched()
	}
	assert.False(t, GroupEnding(os.Getpid(), gone), "a thread that exited alone")
}

// FuzzReadTask: the loop's thread a node process records in the audio
// bus is any 32-bit value it likes; the driver reads it as a thread of the
// process the group started. ReadTask of this process and such a value
// never panics, and reports a thread only when the value is 0 (the
// process itself) or one of the process's own threads: never a thread of
// another process, whatever number it names.
func FuzzReadTask(f *testing.F) {
	self := os.Getpid()
	f.Add(uint32(0))
	f.Add(uint32(1))
	f.Add(uint32(self))
	f.Add(uint32(Gettid()))
	f.Add(uint32(1 << 22))
	f.Add(uint32(1<<31 - 1))
	f.Add(uint32(1<<32 - 1))
	f.Fuzz(func(t *testing.T, tid uint32) {
		before := threads(self)
		task, ok := ReadTask(self, int(tid))
		if !ok {
			return
		}
		if tid != 0 && !slices.Contains(before, int(tid)) && !slices.Contains(threads(self), int(tid)) {
			t.Fatalf("thread %d read as one of process %d's, which has %v", tid, self, before)
		}
		if task.State == 0 {
			t.Fatalf("thread %d read with no state", tid)
		}
	})
}

// threads lists process pid's threads.
func threads(pid int) []int {
	var tids []int
	EachTask(pid, func(tid int) { tids = append(tids, tid) })
	return tids
}

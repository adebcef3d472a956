package testproc

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
)

// SpinOn starts a shell's busy loop pinned to cpu, in SCHED_FIFO at prio:
// a thread that holds its CPU against everything below prio. It is a
// process of its own, as a goroutine spinning in the test's process would
// be preempted by the Go runtime and its thread parked; it is killed when
// the test ends, or earlier by StopSpin. The test is skipped where
// SCHED_FIFO at prio cannot be had.
func SpinOn(t testing.TB, cpu, prio int) *exec.Cmd {
	t.Helper()
	spin := exec.Command("sh", "-c", "while :; do :; done")
	spin.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := spin.Start(); err != nil {
		t.Fatalf("starting a busy loop: %v", err)
	}
	t.Cleanup(func() { StopSpin(spin) })
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(spin.Process.Pid, &set); err != nil {
		t.Fatalf("pinning the busy loop to CPU %d: %v", cpu, err)
	}
	fifo := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(prio)}
	if err := unix.SchedSetAttr(spin.Process.Pid, &fifo, 0); err != nil {
		t.Skipf("no SCHED_FIFO %d here: %v", prio, err)
	}
	return spin
}

// StopSpin kills a busy loop and reaps it; a second call does nothing.
func StopSpin(spin *exec.Cmd) {
	if spin.ProcessState == nil {
		spin.Process.Kill()
		spin.Wait()
	}
}

// WaitSpinning waits until spin runs on cpu: its time on a CPU grew by
// 5 ms there, past its start (the shell's exec, its page faults).
func WaitSpinning(t testing.TB, spin *exec.Cmd, cpu int) {
	t.Helper()
	var run0 int64 = -1
	for end := time.Now().Add(Deadline); ; {
		task, ok := linux.ReadTask(spin.Process.Pid, spin.Process.Pid)
		if !ok {
			t.Fatal("the busy loop is gone")
		}
		if task.State == 'R' && task.CPU == cpu {
			if run0 < 0 {
				run0 = task.Run
			} else if task.Run-run0 >= int64(5*time.Millisecond) {
				return
			}
		}
		if time.Now().After(end) {
			t.Fatalf("the busy loop never spun on CPU %d", cpu)
		}
		time.Sleep(time.Millisecond)
	}
}

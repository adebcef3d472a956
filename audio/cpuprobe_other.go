//go:build !linux

package audio

import "github.com/understudy/understudy/internal/linux"

// cpuProbes are none: without Linux no node runs in SCHED_FIFO.
type cpuProbes struct{}

func startProbes(prio int) *cpuProbes { return &cpuProbes{} }

func (*cpuProbes) stop() {}

// cpuLook is what a probe of a runnable thread found: never probed here.
type cpuLook struct {
	probed bool
	ran    int64
	task   linux.Task
}

func (*cpuProbes) look(pid, tid int, t linux.Task, limit int64) cpuLook { return cpuLook{task: t} }

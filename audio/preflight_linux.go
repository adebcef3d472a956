//go:build linux

package audio

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
)

// tryFIFO reports whether a thread of this process may run in SCHED_FIFO
// at prio: it asks on a thread of its own, which ends with the goroutine.
func tryFIFO(prio int) bool {
	ok := make(chan bool)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		ok <- linux.SetFIFO(prio) == nil
	}()
	return <-ok
}

// rtThrottling returns the kernel's RT throttling as "950000/1000000µs",
// and why this process's cgroup refuses SCHED_FIFO, if it does (cgroup v1
// with RT group scheduling: a cpu.rt_runtime_us of 0).
func rtThrottling() (runtime, refused string) {
	rt := readTrim("/proc/sys/kernel/sched_rt_runtime_us")
	period := readTrim("/proc/sys/kernel/sched_rt_period_us")
	switch {
	case rt == "-1":
		runtime = "off"
	case rt != "" && period != "":
		runtime = rt + "/" + period + "µs"
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return runtime, ""
	}
	for line := range strings.Lines(string(cg)) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 || !strings.Contains(","+f[1]+",", ",cpu,") {
			continue
		}
		for _, dir := range []string{"cpu,cpuacct", "cpu", "cpuacct,cpu"} {
			v := readTrim("/sys/fs/cgroup/" + dir + f[2] + "/cpu.rt_runtime_us")
			if v == "" {
				continue
			}
			if v == "0" {
				refused = fmt.Sprintf("this process's cgroup (cpu:%s) has cpu.rt_runtime_us 0: it refuses SCHED_FIFO", f[2])
			}
			return runtime, refused
		}
	}
	return runtime, ""
}

// preemptModel returns the kernel's preemption model when debugfs tells
// it ("none", "voluntary", "full"), else "".
func preemptModel() string {
	s := readTrim("/sys/kernel/debug/sched/preempt")
	if i := strings.IndexByte(s, '('); i >= 0 {
		if j := strings.IndexByte(s[i:], ')'); j > 0 {
			return s[i+1 : i+j]
		}
	}
	return ""
}

// underHypervisor reports whether the CPUs carry the hypervisor flag.
func underHypervisor() bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	for line := range bytes.Lines(b) {
		if bytes.HasPrefix(line, []byte("flags")) {
			return bytes.Contains(line, []byte(" hypervisor"))
		}
	}
	return false
}

// wakeCanary runs one sleeper per CPU, pinned to it, at SCHED_FIFO prio
// (0: normal scheduling), each sleeping to absolute 1 ms steps for d, and
// returns the worst lateness of a wake-up and the number of CPUs. Each
// sleeper's thread ends with it.
func wakeCanary(prio int, d time.Duration) (time.Duration, int) {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		set.Zero()
		set.Set(0)
	}
	var mu sync.Mutex
	var worst int64
	var wg sync.WaitGroup
	cpus := 0
	for cpu := range runtime.NumCPU() * 4 {
		if !set.IsSet(cpu) {
			continue
		}
		cpus++
		wg.Go(func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			var one unix.CPUSet
			one.Set(cpu)
			unix.SchedSetaffinity(0, &one)
			if prio > 0 {
				linux.SetFIFO(prio)
			}
			next := mono.Now()
			end := next + int64(d)
			var w int64
			for next < end {
				next += int64(time.Millisecond)
				linux.SleepUntil(next)
				if late := mono.Now() - next; late > w {
					w = late
				}
			}
			mu.Lock()
			worst = max(worst, w)
			mu.Unlock()
		})
	}
	wg.Wait()
	return time.Duration(worst), cpus
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

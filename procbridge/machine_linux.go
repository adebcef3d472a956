//go:build linux

package procbridge

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"

	"github.com/understudy/understudy/internal/linux"
)

// What the hang monitor reads of the machine.

// machineBusy reports whether more tasks are runnable than there are CPUs
// (the instantaneous count in /proc/loadavg, this thread included): then a
// worker that misses a beat may be waiting for a CPU. It reports true when
// it cannot tell, giving the worker the benefit of the doubt.
func machineBusy() bool {
	var buf [128]byte
	b := linux.ReadSmall(loadavgPath, buf[:])
	f := bytes.Fields(b)
	if len(f) < 4 {
		return true
	}
	running, _, ok := bytes.Cut(f[3], []byte("/"))
	n, err := strconv.Atoi(string(running))
	if !ok || err != nil {
		return true
	}
	return n > onlineCPUs()
}

var loadavgPath = []byte("/proc/loadavg\x00")

var cpus struct {
	once sync.Once
	n    int
}

// onlineCPUs returns the number of CPUs online, read once.
func onlineCPUs() int {
	cpus.once.Do(func() {
		cpus.n = runtime.NumCPU()
		if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
			if n := countCPUList(string(bytes.TrimSpace(b))); n > 0 {
				cpus.n = n
			}
		}
	})
	return cpus.n
}

// countCPUList counts the CPUs in a list like "0-3,6,8-9".
func countCPUList(s string) int {
	n := 0
	for _, part := range bytes.Split([]byte(s), []byte(",")) {
		lo, hi, isRange := bytes.Cut(part, []byte("-"))
		a, err := strconv.Atoi(string(lo))
		if err != nil {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(string(hi)); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}

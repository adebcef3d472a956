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

// cpuPressure returns the kernel's pressure-stall total for CPUs, "some"
// (ns during which at least one task waited for a CPU, since boot), read
// from /proc/pressure/cpu. It reports false when the kernel keeps no such
// account (no CONFIG_PSI, or psi=0): the monitor then goes by the other
// signs of a saturated machine.
func cpuPressure() (total int64, avg10 int, ok bool) {
	var buf [256]byte
	b := linux.ReadSmall(pressurePath, buf[:])
	return parsePressure(b)
}

var pressurePath = []byte("/proc/pressure/cpu\x00")

// parsePressure reads the "some" line of a pressure file, its total (µs,
// returned in ns) and its 10 s average (percent, rounded down):
// "some avg10=12.34 avg60=0.00 avg300=0.00 total=12345".
func parsePressure(b []byte) (int64, int, bool) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if !bytes.HasPrefix(line, []byte("some ")) {
		return 0, 0, false
	}
	_, total, ok := bytes.Cut(line, []byte(" total="))
	if !ok {
		return 0, 0, false
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(total)), 10, 64)
	if err != nil || n < 0 {
		return 0, 0, false
	}
	_, avg, ok := bytes.Cut(line, []byte("avg10="))
	if !ok {
		return 0, 0, false
	}
	whole, _, _ := bytes.Cut(avg, []byte("."))
	a, err := strconv.Atoi(string(whole))
	if err != nil {
		return 0, 0, false
	}
	return n * 1000, a, true
}

// machineLook is what one pass of the hang monitor knows of the machine,
// for the workers it judges: read lazily, once a pass, and only when a
// worker is suspect, so a monitor whose workers beat reads nothing.
type machineLook struct {
	overdue  int   // workers past their deadline without a beat
	silent   int   // workers without a beat for half their timeout
	watched  int   // workers watched, parked spares aside
	stallAt  int64 // mono ns of the monitor's last late wake
	pressure int64 // cpuPressure, once read
	avg10    int
	read     bool
	ok       bool
	isBusy   bool // machineBusy, once read
	busyRead bool
}

// busy returns machineBusy, read once a pass.
func (m *machineLook) busy() bool {
	if !m.busyRead {
		m.isBusy, m.busyRead = machineBusy(), true
	}
	return m.isBusy
}

// cpuPressure returns the machine's pressure total, read once a pass.
func (m *machineLook) cpuPressure() (int64, int, bool) {
	if !m.read {
		m.pressure, m.avg10, m.ok = cpuPressure()
		m.read = true
	}
	return m.pressure, m.avg10, m.ok
}

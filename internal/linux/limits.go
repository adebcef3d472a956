package linux

import "math"

// Limits caps what the processes of a cgroup may use. A zero field sets no
// cap.
type Limits struct {
	MemoryMax int64   // bytes of memory, swap included
	CPUMax    float64 // CPUs' worth of time: 0.5 is half of one CPU's
	PidsMax   int     // tasks: processes and their threads
}

// The limits' controllers, by their kernel names.
const (
	CtlMemory = "memory"
	CtlCPU    = "cpu"
	CtlPids   = "pids"
)

// Controllers lists the controllers l needs, in a fixed order.
func (l Limits) Controllers() []string {
	var out []string
	if l.MemoryMax > 0 {
		out = append(out, CtlMemory)
	}
	if l.CPUMax > 0 {
		out = append(out, CtlCPU)
	}
	if l.PidsMax > 0 {
		out = append(out, CtlPids)
	}
	return out
}

// CPUPeriod is the period of the CPU cap, in microseconds: a cap of c CPUs
// grants c*CPUPeriod µs of CPU time in each period.
const CPUPeriod = 100_000

// CPUQuota is l's CPU cap as a quota per CPUPeriod, in microseconds, at
// least the kernel's 1000.
func (l Limits) CPUQuota() int64 {
	return max(int64(math.Round(l.CPUMax*CPUPeriod)), 1000)
}

// LimitPlan says where each limit controller's caps go (PlanLimits).
type LimitPlan struct {
	V2  []string           // controllers the cgroup v2 leaves have
	V1  map[string]V1Group // the others: this process's group in their v1 hierarchy
	Why map[string]string  // the rest: why neither works
}

// V1Group is a directory of the cgroup v1 hierarchy of controller Ctl:
// Path in the mounted filesystem, Rel below the hierarchy's root (as
// /proc/PID/cgroup writes it).
type V1Group struct{ Ctl, Path, Rel string }

// Describe says, for each controller, where its caps go: "memory: cgroup
// v1", "cpu: cgroup v2", "pids: none (why)".
func (p LimitPlan) Describe() []string {
	var out []string
	for _, ctl := range []string{CtlMemory, CtlCPU, CtlPids} {
		switch _, v1 := p.V1[ctl]; {
		case v1:
			out = append(out, ctl+": cgroup v1")
		case p.Why[ctl] != "":
			out = append(out, ctl+": none ("+p.Why[ctl]+")")
		default:
			out = append(out, ctl+": cgroup v2")
		}
	}
	return out
}

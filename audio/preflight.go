package audio

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// machine is what Start found out about the machine before the first
// cycle, in real time: whether it can keep blocks on time, and how far.
type machine struct {
	fifo       string        // the driver's SCHED_FIFO: "" not asked, else granted or why not
	fifoOK     bool          // the driver's level was granted
	nodesOK    bool          // every node process got its level, its threads raised
	locked     bool          // every node process locked its memory
	rtRuntime  string        // the kernel's RT throttling, as found
	rtRefused  string        // why the cgroup refuses SCHED_FIFO ("" if it does not)
	preempt    string        // the kernel's preemption model, if it tells
	hypervisor bool          // the CPUs say a hypervisor runs them
	canary     time.Duration // the canary's worst wake lateness
	canaryRun  time.Duration // how long the canary ran
	canaryCPUs int
	slack      time.Duration // the lateness a block survives
}

// canaryRun is how long the wake-latency canary runs.
const canaryTime = 300 * time.Millisecond

// preflight looks at the machine once the node processes are ready: the
// real-time priority of the driver and the nodes, RT throttling, locked
// memory, the hypervisor, and a wake-latency canary at the driver's level,
// one sleeper pinned per CPU. It logs a warning through Config.Logger
// when the machine cannot keep blocks on time.
func (e *Engine) preflight(ctx context.Context) {
	m := &e.machine
	m.slack = time.Duration(max(e.slack, 1)) * e.period
	prio := 0
	if e.cfg.Priority > 0 {
		prio = e.driverPriority()
		m.fifoOK = tryFIFO(prio)
		m.fifo = fmt.Sprintf("SCHED_FIFO %d for the driver: ", prio)
		if m.fifoOK {
			m.fifo += "granted"
		} else {
			m.fifo += "REFUSED (needs CAP_SYS_NICE or RLIMIT_RTPRIO)"
		}
		denied, raised, locked := e.nodeSetup()
		m.nodesOK, m.locked = !denied && raised, locked
	}
	m.rtRuntime, m.rtRefused = rtThrottling()
	m.preempt = preemptModel()
	m.hypervisor = underHypervisor()
	m.canary, m.canaryCPUs = wakeCanary(prio, canaryTime)
	m.canaryRun = canaryTime
	if e.cfg.Logger != nil {
		for _, w := range m.warnings() {
			e.cfg.Logger.WarnContext(ctx, "audio: "+w)
		}
	}
}

// warnings returns what keeps the machine from holding blocks on time.
func (m *machine) warnings() []string {
	var w []string
	switch {
	case m.fifo == "":
		w = append(w, "no real-time priority asked (Config.Priority is 0): blocks are on time only as far as the machine's other work allows")
	case !m.fifoOK || !m.nodesOK:
		w = append(w, "real-time priority refused (needs CAP_SYS_NICE or RLIMIT_RTPRIO): the engine runs in normal scheduling; blocks are on time only as far as the machine's other work allows")
	}
	if m.rtRefused != "" {
		w = append(w, m.rtRefused)
	}
	if m.canary > m.slack {
		w = append(w, fmt.Sprintf("this machine held a real-time thread up to %v in %v; blocks will go missing when it does; they are reported as machine stalls",
			m.canary.Round(10*time.Microsecond), m.canaryRun))
	}
	return w
}

// String prints the findings on one line, and each warning on its own.
func (m *machine) String() string {
	if m.canaryRun == 0 {
		return ""
	}
	var parts []string
	if m.fifo == "" {
		parts = append(parts, "no SCHED_FIFO asked")
	} else {
		parts = append(parts, m.fifo)
		if m.fifoOK {
			if m.nodesOK {
				parts = append(parts, "node processes raised, all threads")
			} else {
				parts = append(parts, "node processes NOT all raised")
			}
			if m.locked {
				parts = append(parts, "memory locked")
			} else {
				parts = append(parts, "memory not locked")
			}
		}
	}
	if m.rtRuntime != "" {
		parts = append(parts, "RT throttling "+m.rtRuntime)
	}
	if m.preempt != "" {
		parts = append(parts, "kernel preemption "+m.preempt)
	}
	if m.hypervisor {
		parts = append(parts, "under a hypervisor")
	}
	parts = append(parts, fmt.Sprintf("wake-latency canary: worst %v in %v on %d CPUs (slack %v)",
		m.canary.Round(10*time.Microsecond), m.canaryRun, m.canaryCPUs, m.slack.Round(10*time.Microsecond)))
	var b strings.Builder
	b.WriteString("machine: " + strings.Join(parts, "; ") + "\n")
	for _, w := range m.warnings() {
		b.WriteString("WARNING: " + w + "\n")
	}
	return b.String()
}

// Preflight returns what Start found out about the machine before the
// first cycle, in real time (offline, where no deadline applies, it is
// empty): whether the driver and the node processes got real-time
// priority, the kernel's RT throttling, locked memory, a hypervisor, and
// the worst wake-up lateness of a short canary (a sleeper at the driver's
// priority pinned to each CPU, woken every millisecond for 300ms), one
// line; then a line starting "WARNING:" for each thing that keeps blocks
// from being on time: no real-time priority, RT refused by the cgroup, or
// a canary held up longer than the slack. Report.Machine holds the same.
func (e *Engine) Preflight() string { return e.machine.String() }

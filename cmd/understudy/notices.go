package main

import (
	"github.com/understudy/understudy/internal/deathwatch"
)

// noticesLine says which early death notices this host gives: what
// procbridge decides at its first start, found the same way.
func noticesLine() string {
	const rest = "the robust futex (a worker that links the SDK, once its last thread dies) and the pidfd (every worker, once the kernel has torn it down)"
	if deathwatch.Off() {
		return "death notices: " + rest + "; the eBPF watch is off (" + deathwatch.EnvOff + "=off)"
	}
	if err := deathwatch.Available(); err != nil {
		return "death notices: " + rest + "; no eBPF watch (" + err.Error() + "): run as root, or with CAP_BPF and CAP_PERFMON, on a kernel with BTF, for a notice for every worker before its memory is torn down"
	}
	return "death notices: eBPF (every worker: a fatal signal sent to it, its exit beginning, or the OOM killer's choice, before its memory is torn down), " + rest
}

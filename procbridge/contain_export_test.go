//go:build linux

package procbridge

// ContainmentForTest decides this process's containment, if it is not
// decided yet, and reports whether it is cgroup mode, and why not.
func ContainmentForTest() (cgroup bool, why string) {
	return contained() == containCgroup, containment.why
}

// ForcePgroupForTest makes this process's containment pgroup mode; call it
// before the first start.
func ForcePgroupForTest() { forcePgroup.Store(true) }

// ShellKeeperForTest makes this process's keeper, in cgroup mode, the
// shell rather than the program re-executed; call it before the first
// start.
func ShellKeeperForTest() { forceShellKeeper.Store(true) }

// LeafForTest returns the path of p's cgroup ("" in pgroup mode).
func LeafForTest(p *Process) string { return p.os.leaf.Path }

// KeeperForTest returns the kind of keeper that runs ("" when none does).
func KeeperForTest() string {
	containment.mu.Lock()
	defer containment.mu.Unlock()
	return containment.keeper
}

// LimitGroupsForTest returns the directories of p's cgroup v1 groups.
func LimitGroupsForTest(p *Process) []string {
	var out []string
	for _, g := range p.os.v1 {
		out = append(out, g.Path)
	}
	return out
}

// HasWatchdogForTest reports whether p was started with a watchdog (it is
// not, when watched in batch).
func HasWatchdogForTest(p *Process) bool {
	monitor.mu.Lock()
	defer monitor.mu.Unlock()
	return p.os.dog >= 0
}

//go:build !linux

package linux

import "fmt"

// PlanLimits: no controller has a home here.
func PlanLimits(domain Cgroup) LimitPlan {
	p := LimitPlan{V1: map[string]V1Group{}, Why: map[string]string{}}
	for _, ctl := range []string{CtlMemory, CtlCPU, CtlPids} {
		p.Why[ctl] = fmt.Sprintf("cgroups: %v", ErrNotSupported)
	}
	return p
}

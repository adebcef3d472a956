//go:build linux

package procbridge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/understudy/understudy/internal/linux"
)

// Limits (Spec.MemoryMax, CPUMax, PidsMax). Each controller's caps go where
// the host has it, decided once, at the first start that asks for one:
//
//   - cgroup v2, in cgroup mode, when the controller can be enabled below
//     the domain: the caps are written into the worker's leaf before it is
//     forked into it.
//   - Else cgroup v1, when the controller has a v1 hierarchy this process
//     may write: each worker gets a group of its own there, below a domain
//     understudy.<pid> beside this process's own group. A v1 group holds
//     threads, and a process starts in the groups of the thread that forks
//     it: the forker's thread moves into the worker's groups for the fork
//     and back (its pids cap is one higher meanwhile, for the thread
//     itself, and its CPU cap is written once the fork is done, so the
//     fork is never throttled). The worker is in its groups from its first
//     instruction, and its descendants with it.
//   - Else Start fails with an error wrapping ErrNotSupported.
//
// When the worker ends, its v1 groups are emptied (what is left in them is
// killed: in pgroup mode that reaches descendants that left its process
// group) and removed. The OOM killer's count in its memory group (v2
// memory.events, v1 memory.oom_control) tells an ExitOOM.
var limitHomes struct {
	once    sync.Once
	plan    linux.LimitPlan
	domains map[string]linux.V1Group // by controller: understudy.<pid> in its v1 hierarchy
	err     map[string]error         // by controller: why its v1 domain could not be made
}

// limitPlan decides, once, where each controller's caps go.
func limitPlan() *linux.LimitPlan {
	limitHomes.once.Do(func() {
		domain := linux.Cgroup{}
		if contained() == containCgroup {
			domain = containment.domain
		}
		limitHomes.plan = linux.PlanLimits(domain)
		limitHomes.domains, limitHomes.err = map[string]linux.V1Group{}, map[string]error{}
		name := "understudy." + strconv.Itoa(os.Getpid())
		for ctl, home := range limitHomes.plan.V1 {
			removeStaleV1(home)
			d, err := home.Sub(name)
			if err != nil {
				limitHomes.err[ctl] = err
				continue
			}
			limitHomes.domains[ctl] = d
		}
	})
	return &limitHomes.plan
}

// removeStaleV1 removes the v1 domains of programs that are gone
// (understudy.<pid> of a pid no process has): those a program killed by
// SIGKILL left, their processes ended by its keeper.
func removeStaleV1(home linux.V1Group) {
	ents, _ := os.ReadDir(home.Path)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "understudy.")
		if !ok || !e.IsDir() {
			continue
		}
		pid, err := strconv.Atoi(rest)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + rest); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		d := linux.V1Group{Ctl: home.Ctl, Path: filepath.Join(home.Path, e.Name()), Rel: filepath.Join(home.Rel, e.Name())}
		leaves, _ := os.ReadDir(d.Path)
		for _, l := range leaves {
			if l.IsDir() {
				linux.V1Group{Ctl: d.Ctl, Path: filepath.Join(d.Path, l.Name()), Rel: filepath.Join(d.Rel, l.Name())}.Empty(leafBound)
			}
		}
		d.Empty(leafBound)
	}
}

// limitsSupported reports, before anything is made, whether the host has
// a home for every limit of the spec.
func (p *Process) limitsSupported() error {
	l := p.spec.limits()
	ctls := l.Controllers()
	if len(ctls) == 0 {
		return nil
	}
	plan := limitPlan()
	for _, ctl := range ctls {
		if slices.Contains(plan.V2, ctl) {
			continue
		}
		if why := plan.Why[ctl]; why != "" {
			return fmt.Errorf("%s: the %s controller: %s: %w", limitField(ctl), ctl, why, ErrNotSupported)
		}
		if err := limitHomes.err[ctl]; err != nil {
			return fmt.Errorf("%s: %w: %w", limitField(ctl), err, ErrNotSupported)
		}
	}
	return nil
}

func limitField(ctl string) string {
	switch ctl {
	case linux.CtlMemory:
		return "MemoryMax"
	case linux.CtlCPU:
		return "CPUMax"
	}
	return "PidsMax"
}

// makeLimits, before the fork, writes the caps that go to cgroup v2 into
// p's leaf and makes p's v1 groups with their caps (but the CPU quota's
// and the final pids cap, written once it is forked). On error it removes
// the groups it made.
func (p *Process) makeLimits() error {
	l := p.spec.limits()
	ctls := l.Controllers()
	if len(ctls) == 0 {
		return nil
	}
	plan := limitPlan()
	var v2 linux.Limits
	for _, ctl := range ctls {
		if !slices.Contains(plan.V2, ctl) {
			d := limitHomes.domains[ctl]
			g, err := d.Sub(leafName(containment.seq.Add(1), p.name))
			if err != nil {
				return fmt.Errorf("%s: %w", limitField(ctl), err)
			}
			p.os.v1 = append(p.os.v1, g)
			if err := g.SetLimits(l, false); err != nil {
				return fmt.Errorf("%s: %w", limitField(ctl), err)
			}
			continue
		}
		switch ctl {
		case linux.CtlMemory:
			v2.MemoryMax = l.MemoryMax
		case linux.CtlCPU:
			v2.CPUMax = l.CPUMax
		case linux.CtlPids:
			v2.PidsMax = l.PidsMax
		}
	}
	if len(v2.Controllers()) > 0 {
		if p.os.leaf.Path == "" {
			return fmt.Errorf("limits: no cgroup could be made for the worker: %w", ErrNotSupported)
		}
		if err := p.os.leaf.SetLimits(v2); err != nil {
			return fmt.Errorf("limits: %w", err)
		}
	}
	return nil
}

// enterLimits moves the calling thread, a forker's, into p's v1 groups for
// the fork; leaveLimits must follow, whatever it returns.
func (p *Process) enterLimits() error {
	for _, g := range p.os.v1 {
		if g.Ctl == linux.CtlPids {
			if err := g.SetPidsMax(p.spec.PidsMax + 1); err != nil { // the thread counts meanwhile
				return fmt.Errorf("PidsMax: %w", err)
			}
		}
		if err := g.Enter(); err != nil {
			return fmt.Errorf("%s: %w", limitField(g.Ctl), err)
		}
	}
	return nil
}

// leaveLimits, on the forker's thread after the fork, writes the caps held
// back for it (when forked) and moves the thread back into this process's
// own groups. It reports false when the thread could not move back: it
// would start every later worker in p's groups, so it must fork no more.
func (p *Process) leaveLimits(forked bool) bool {
	for _, g := range p.os.v1 {
		switch {
		case !forked:
		case g.Ctl == linux.CtlCPU:
			g.SetLimits(p.spec.limits(), true)
		case g.Ctl == linux.CtlPids:
			g.SetPidsMax(p.spec.PidsMax)
		}
	}
	ok := true
	for _, g := range p.os.v1 {
		if limitHomes.plan.V1[g.Ctl].Enter() != nil {
			ok = false
		}
	}
	return ok
}

// endLimits, once the worker is dead (and, in cgroup mode, its leaf
// emptied), records whether the OOM killer ended a process of its memory
// group, then kills whatever is left in its v1 groups and removes them.
func (p *Process) endLimits() {
	for _, g := range p.os.v1 {
		if g.OOMKills() > 0 {
			p.oomKilled = true
		}
		g.Empty(leafBound)
	}
}

package supervision

import (
	"sync"

	"github.com/understudy/understudy/procbridge"
)

// procSet is every process and hot-standby group a tree runs, as its
// process actors report them (actors.Tracker), so that Tree.Kill can kill
// them all at once.
type procSet struct {
	mu     sync.Mutex
	killed bool
	procs  map[*procbridge.Process]struct{}
	groups map[*procbridge.Group]struct{}
}

func newProcSet() *procSet {
	return &procSet{procs: map[*procbridge.Process]struct{}{}, groups: map[*procbridge.Group]struct{}{}}
}

// Track records the process p or the group g until untrack is called. Once
// the set is killed, it kills what it is given at once.
func (ps *procSet) Track(p *procbridge.Process, g *procbridge.Group) (untrack func()) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.killed {
		killNow(p, g)
	}
	if p != nil {
		ps.procs[p] = struct{}{}
	}
	if g != nil {
		ps.groups[g] = struct{}{}
	}
	return func() {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		delete(ps.procs, p)
		delete(ps.groups, g)
	}
}

// kill SIGKILLs the process group of every process tracked, and of every
// one tracked from now on.
func (ps *procSet) kill() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.killed = true
	for p := range ps.procs {
		killNow(p, nil)
	}
	for g := range ps.groups {
		killNow(nil, g)
	}
}

// killNow kills p, or the primary and the spares of g.
func killNow(p *procbridge.Process, g *procbridge.Group) {
	if p != nil {
		p.Kill()
	}
	if g != nil {
		for _, q := range append(g.Spares(), g.Primary()) {
			q.Kill()
		}
	}
}

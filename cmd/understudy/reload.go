package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/understudy/understudy/spec"
	"github.com/understudy/understudy/supervision"
)

// A reload re-reads the tree's file and applies the difference as
// supervisorctl's update does: a child that is new is started, one that is
// gone is stopped and removed, one whose declaration changed is stopped,
// removed and started from its new declaration; the rest run on. A nested
// supervisor whose own settings changed (strategy, intensity, ...) counts
// as changed as a whole; one whose settings did not is compared child by
// child. A simple_one_for_one supervisor is compared as a whole, its
// template and its instances. The root's own settings cannot change
// without a restart of understudy: they are reported, not applied.
//
// A child started by a reload is added after its siblings, as
// supervision's StartChild adds it: the start order is the file's only
// for what did not change.

// reloadChange is one difference between the running file and the new one.
type reloadChange struct {
	Child string   `json:"child"` // its path from the root, "jobs/flaky"
	Kind  string   `json:"kind"`  // added, removed, changed, or settings (the root's own, not applied)
	Diff  []string `json:"diff,omitempty"`
	Did   string   `json:"did"` // what was done, or why not
}

// reloadReport is the answer to POST /v1/reload.
type reloadReport struct {
	File    string         `json:"file"`
	Changes []reloadChange `json:"changes"`
	Failed  []string       `json:"failed,omitempty"` // the changes that could not be applied, and why
}

func (r reloadReport) String() string {
	var b strings.Builder
	if len(r.Changes) == 0 {
		fmt.Fprintf(&b, "%s: no change\n", r.File)
		return b.String()
	}
	for _, c := range r.Changes {
		fmt.Fprintf(&b, "%s: %s: %s\n", c.Child, c.Kind, c.Did)
		for _, d := range c.Diff {
			fmt.Fprintf(&b, "    %s\n", d)
		}
	}
	return b.String()
}

// specChange is one difference found by diffTrees, before it is applied.
type specChange struct {
	names    []string // the child's names from the root
	kind     string
	old, new *supervision.ChildSpec
	diff     []string
}

// childText is a child's declaration as the file format writes it, with
// the instances of the simple_one_for_one supervisors under it; shallow
// leaves out a nested supervisor's children.
func childText(c supervision.ChildSpec, names []string, instances []spec.Instance, shallow bool) (string, error) {
	if shallow && c.Supervisor != nil && c.Supervisor.Strategy != supervision.SimpleOneForOne {
		sup := *c.Supervisor
		sup.Children = nil
		c.Supervisor = &sup
	}
	f := &spec.File{Tree: &supervision.Spec{Children: []supervision.ChildSpec{c}}}
	for _, in := range instances {
		if len(in.Supervisor) > len(names)-1 && slices.Equal(in.Supervisor[:len(names)], names) {
			f.Instances = append(f.Instances, spec.Instance{Supervisor: in.Supervisor[len(names)-1:], Args: in.Args})
		}
	}
	out, err := spec.Marshal(f)
	if err != nil {
		return "", err
	}
	// Leave out the comment and the one-child list around it.
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if strings.HasPrefix(l, "#") || strings.HasPrefix(l, "strategy:") || l == "children:" {
			continue
		}
		if strings.HasPrefix(l, "  - ") || strings.HasPrefix(l, "    ") {
			l = l[4:]
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n"), nil
}

// rootText is the root's own settings as the file writes them.
func rootText(f *spec.File) (string, error) {
	t := *f.Tree
	if t.Strategy != supervision.SimpleOneForOne {
		t.Children = nil
	}
	out, err := spec.Marshal(&spec.File{Name: f.Name, Tree: &t, Instances: rootInstances(f)})
	return string(out), err
}

func rootInstances(f *spec.File) []spec.Instance {
	var out []spec.Instance
	for _, in := range f.Instances {
		if len(in.Supervisor) == 0 {
			out = append(out, in)
		}
	}
	return out
}

// diffTrees compares the children of two supervisors' specs, at names,
// and recurses into nested supervisors whose own settings are the same.
func diffTrees(oldF, newF *spec.File, old, new *supervision.Spec, names []string) ([]specChange, error) {
	var out []specChange
	at := func(name string) []string { return append(slices.Clone(names), name) }
	for i := range old.Children {
		oc := &old.Children[i]
		if childSpec(new, oc.Name) == nil {
			out = append(out, specChange{names: at(oc.Name), kind: "removed", old: oc})
		}
	}
	for i := range new.Children {
		nc := &new.Children[i]
		oc := childSpec(old, nc.Name)
		n := at(nc.Name)
		if oc == nil {
			out = append(out, specChange{names: n, kind: "added", new: nc})
			continue
		}
		oldText, err := childText(*oc, n, oldF.Instances, true)
		if err != nil {
			return nil, err
		}
		newText, err := childText(*nc, n, newF.Instances, true)
		if err != nil {
			return nil, err
		}
		nested := oc.Supervisor != nil && nc.Supervisor != nil && oc.Supervisor.Strategy != supervision.SimpleOneForOne && nc.Supervisor.Strategy != supervision.SimpleOneForOne
		if oldText != newText {
			out = append(out, specChange{names: n, kind: "changed", old: oc, new: nc, diff: lineDiff(oldText, newText)})
			continue
		}
		if nested {
			sub, err := diffTrees(oldF, newF, oc.Supervisor, nc.Supervisor, n)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

// reload re-reads the file and applies the difference to the running tree.
func (r *runner) reload(ctx context.Context) (reloadReport, error) {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	tree, old := r.ctl.current()
	if tree == nil {
		return reloadReport{}, refuse(http.StatusConflict, "the tree is not running")
	}
	rep := reloadReport{File: old.Path, Changes: []reloadChange{}}
	nf, err := spec.Load(old.Path)
	if err == nil {
		err = nf.Preflight()
	}
	if err == nil && nf.Tree == nil {
		err = fmt.Errorf("%s: no tree: the file declares none now", old.Path)
	}
	if err != nil {
		if nf != nil {
			_ = nf.Close()
		}
		return rep, refuse(http.StatusBadRequest, "%s is invalid; nothing was changed:\n%v", old.Path, err)
	}
	// The root runs as the tree started, whatever the reloads since.
	oldRoot, err1 := rootText(r.ctl.started)
	newRoot, err2 := rootText(nf)
	if err := errors.Join(err1, err2); err != nil {
		_ = nf.Close()
		return rep, fmt.Errorf("compare the root's settings: %w", err)
	}
	root := rootName(r.ctl.started)
	if oldRoot != newRoot || rootName(nf) != root {
		rep.Changes = append(rep.Changes, reloadChange{Child: root, Kind: "settings", Diff: lineDiff(oldRoot, newRoot),
			Did: "not applied: the root's own settings change only when understudy run starts again"})
	}
	var changes []specChange
	if old.Tree.Strategy != supervision.SimpleOneForOne && nf.Tree.Strategy != supervision.SimpleOneForOne {
		if changes, err = diffTrees(old, nf, old.Tree, nf.Tree, nil); err != nil {
			_ = nf.Close()
			return rep, fmt.Errorf("compare the trees: %w", err)
		}
	}
	// A reload once begun runs to its end, whether or not its client waits.
	ctx = context.WithoutCancel(ctx)
	r.log.Info("reloading", "file", old.Path, "changes", len(changes))
	for _, ch := range changes {
		path := strings.Join(ch.names, "/")
		rc := reloadChange{Child: path, Kind: ch.kind, Diff: ch.diff}
		if ch.kind == "added" {
			if text, err := childText(*ch.new, ch.names, nf.Instances, false); err == nil {
				rc.Diff = lineDiff("", text)
			}
		}
		did, running, err := r.applyChange(ctx, tree, nf, ch)
		if err != nil {
			// What runs now is what the next reload compares with: a
			// change that failed is found again.
			setChild(nf.Tree, ch.names, running)
			rc.Did = "FAILED: " + err.Error()
			rep.Failed = append(rep.Failed, path+": "+err.Error())
			r.log.Error("reload: could not apply a change", "child", path, "change", ch.kind, "err", err)
		} else {
			rc.Did = did
			r.log.Info("reload: applied", "child", path, "change", ch.kind, "did", did)
		}
		rep.Changes = append(rep.Changes, rc)
	}
	r.ctl.mu.Lock()
	r.ctl.file = nf
	r.ctl.files = append(r.ctl.files, nf)
	r.ctl.mu.Unlock()
	r.sdStatus(fmt.Sprintf("running; reloaded %s at %s: %d changes", old.Path, time.Now().Format("15:04:05"), len(changes)))
	return rep, nil
}

// applyChange applies one change to the running tree. When it fails,
// running is the child's spec that runs now (nil: none).
func (r *runner) applyChange(ctx context.Context, tree *supervision.Tree, nf *spec.File, ch specChange) (did string, running *supervision.ChildSpec, err error) {
	sup := tree.Supervisor(ch.names[:len(ch.names)-1]...)
	name := ch.names[len(ch.names)-1]
	if ch.old != nil {
		if err := sup.TerminateChild(ctx, name); err != nil && !errors.Is(err, supervision.ErrNoChild) {
			return "", ch.old, fmt.Errorf("stop: %w", err)
		}
		if err := sup.DeleteChild(ctx, name); err != nil && !errors.Is(err, supervision.ErrNoChild) {
			return "", ch.old, fmt.Errorf("remove: %w", err)
		}
		if ch.new == nil {
			return "stopped and removed", nil, nil
		}
	}
	ci, err := sup.StartChild(ctx, *ch.new)
	if err != nil {
		if ch.old != nil {
			return "", nil, fmt.Errorf("stopped, but the new declaration did not start: %w", err)
		}
		return "", nil, fmt.Errorf("start: %w", err)
	}
	// A simple_one_for_one supervisor under it gets its instances.
	r.startInstancesUnder(ctx, tree, nf, ch.names)
	verb := "started"
	if ch.old != nil {
		verb = "restarted"
	}
	if ci.Pid != 0 {
		return fmt.Sprintf("%s, pid %d", verb, ci.Pid), nil, nil
	}
	return verb, nil, nil
}

// setChild makes c the child at names in tree's spec (nil: removes it),
// in a new slice of its supervisor's children (a running supervisor may
// hold the old one).
func setChild(tree *supervision.Spec, names []string, c *supervision.ChildSpec) {
	parent := supervisorSpec(tree, names[:len(names)-1])
	if parent == nil {
		return
	}
	name := names[len(names)-1]
	children := make([]supervision.ChildSpec, 0, len(parent.Children)+1)
	for _, k := range parent.Children {
		if k.Name != name {
			children = append(children, k)
		}
	}
	if c != nil {
		children = append(children, *c)
	}
	parent.Children = children
}

// startInstancesUnder starts the instances nf declares for the
// simple_one_for_one supervisors at or under names.
func (r *runner) startInstancesUnder(ctx context.Context, tree *supervision.Tree, nf *spec.File, names []string) {
	done := map[string]bool{}
	for _, in := range nf.Instances {
		key := strings.Join(in.Supervisor, "/")
		if len(in.Supervisor) >= len(names) && slices.Equal(in.Supervisor[:len(names)], names) && !done[key] {
			done[key] = true
			r.startInstances(ctx, tree, nf, in.Supervisor)
		}
	}
}

// lineDiff is a line diff of a and b: "- " before a line only a has, "+ "
// before one only b has; the lines both have are left out.
func lineDiff(a, b string) []string {
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	x, y := split(a), split(b)
	// The longest common subsequence, by dynamic programming: the texts
	// are a child's declaration, a few dozen lines.
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+x[i])
			i++
		default:
			out = append(out, "+ "+y[j])
			j++
		}
	}
	return out
}

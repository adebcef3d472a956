//go:build linux

package supervision_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/supervision"
)

// killTree is a tree with a process that ignores SIGTERM, a hot-standby
// child with a parked spare and a nested supervisor's process.
func killTree() supervision.Spec {
	return supervision.Spec{Children: []supervision.ChildSpec{
		{Name: "stubborn", Process: proc("ignore-sigterm"), Shutdown: time.Hour},
		standbyChild("hot"),
		{Name: "mid", Supervisor: &supervision.Spec{Children: children("w")}},
	}}
}

// treePids returns the pid of every process of the tree: each child's,
// and the parked spares of hot-standby children.
func treePids(t *testing.T, tree *supervision.Tree) []int {
	t.Helper()
	var pids []int
	for _, s := range []*supervision.Supervisor{tree.Supervisor(), tree.Supervisor("mid")} {
		cs, err := s.Children(ctxT(t))
		require.NoError(t, err)
		for _, c := range cs {
			if !c.Supervisor {
				require.Positive(t, c.Pid, c.Name)
				pids = append(pids, c.Pid)
			}
			pids = append(pids, c.Spares...)
		}
	}
	return pids
}

// TestTreeKill: Kill SIGKILLs every process of the tree at once, without
// waiting for any grace period, and the tree ends.
func TestTreeKill(t *testing.T) {
	tree, err := supervision.Start(ctxT(t), killTree(), supervision.Options{})
	require.NoError(t, err)
	pids := treePids(t, tree)
	require.Len(t, pids, 4, "stubborn, hot and its spare, w")

	tree.Kill()
	for _, pid := range pids {
		waitGone(t, pid)
	}
	select {
	case <-tree.Done():
	case <-ctxT(t).Done():
		t.Fatal("the tree did not end")
	}
	assert.NoError(t, tree.Wait(ctxT(t)), "a tree killed ends as a stopped one does")
	tree.Kill() // again, after the end: nothing to do
	_, err = tree.Stop(ctxT(t))
	assert.NoError(t, err)
}

// TestOptionsKill: closing Options.Kill kills the tree while Start is
// still starting it: the processes started so far die at once, the one
// starting is killed as it comes up, and Start returns.
func TestOptionsKill(t *testing.T) {
	kill := make(chan struct{})
	spec := killTree()
	spec.Children = append(spec.Children, supervision.ChildSpec{Name: "slow", Process: proc("never-ready")})
	var (
		mu   sync.Mutex // supervisors report concurrently
		pids []int
	)
	opts := supervision.Options{Kill: kill, OnEvent: func(ev supervision.Event) {
		if r, ok := ev.(supervision.ChildReady); ok && r.Ready != nil {
			mu.Lock()
			pids = append(pids, r.Ready.Pid)
			mu.Unlock()
		}
		if s, ok := ev.(supervision.ChildStarted); ok && s.Child == "slow" {
			close(kill)
		}
	}}
	tree, err := supervision.Start(ctxT(t), spec, opts)
	require.Error(t, err, "the tree did not start")
	assert.Nil(t, tree)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, pids, 3, "stubborn, hot and w were ready")
	for _, pid := range pids {
		waitGone(t, pid)
	}
}

//go:build linux

package cluster_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/understudy/understudy/internal/cluster/subtree" // the subtree worker, for the agents
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// subtreeSpec is a tree of one remote child, a subtree of two copy
// workers (logs one and two), on nodes.
func subtreeSpec(one, two string, nodes ...string) supervision.Spec {
	worker := func(name, log string) supervision.ChildSpec {
		return supervision.ChildSpec{
			Name:    name,
			Process: &procbridge.Spec{Worker: "copy", Args: []string{log}, StopGrace: time.Second},
			Backoff: supervision.Backoff{Initial: time.Millisecond, Max: time.Millisecond},
		}
	}
	return supervision.Spec{
		Intensity: supervision.Intensity{MaxRestarts: 100, Period: time.Minute},
		Children: []supervision.ChildSpec{{
			Name: "svc",
			Supervisor: &supervision.Spec{
				Strategy:  supervision.OneForAll,
				Intensity: supervision.Intensity{MaxRestarts: 5, Period: time.Minute},
				Children:  []supervision.ChildSpec{worker("one", one), worker("two", two)},
			},
			Nodes:   nodes,
			Backoff: supervision.Backoff{Initial: time.Millisecond, Max: time.Millisecond},
		}},
	}
}

func subtreeLogs(t *testing.T) (string, string) {
	dir := t.TempDir()
	return filepath.Join(dir, "one"), filepath.Join(dir, "two")
}

// wantCopiesOn checks that each log's copies started on the nodes want
// names ("a,b"), one after the other, never beside each other.
func wantCopiesOn(t *testing.T, want string, logs ...string) {
	t.Helper()
	for _, log := range logs {
		if got := strings.Join(checkLog(t, log), ","); got != want {
			t.Errorf("%s: copies started on %s, want %s", filepath.Base(log), got, want)
		}
	}
}

// A subtree on a node whose node is SIGKILLed: the whole subtree runs
// again on the next node, once the lease has expired, each of its
// processes never beside its copy that was lost.
func TestSubtreeNodeKilled(t *testing.T) {
	agents, cl := startCluster(t, "a", "b", "c")
	one, two := subtreeLogs(t)
	tree, ready := startTree(t, subtreeSpec(one, two, "a", "b", "c"), cl)
	waitReady(t, ready, "a")
	agents["a"].waitLine(t, "copy started")
	agents["a"].signal(t, syscall.SIGKILL)
	waitReady(t, ready, "b")
	wantCopiesOn(t, "a,b", one, two)
	children, err := tree.Supervisor().Children(testproc.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	if c := children[0]; c.State != supervision.StateRunning || c.Node != "b" || c.Restarts != 1 {
		t.Errorf("subtree %s on %q after %d restarts, want running on b after 1", c.State, c.Node, c.Restarts)
	}
}

// A subtree on a node SIGSTOPped past its lease, then continued: the
// lease keeper kills every process of the subtree before the lease ends,
// the subtree runs again on the next node, and the node, continued, ends
// its stale copy.
func TestSubtreeNodePaused(t *testing.T) {
	agents, cl := startCluster(t, "a", "b")
	one, two := subtreeLogs(t)
	_, ready := startTree(t, subtreeSpec(one, two, "a", "b"), cl)
	waitReady(t, ready, "a")
	agents["a"].signal(t, syscall.SIGSTOP)
	waitReady(t, ready, "b")
	agents["a"].signal(t, syscall.SIGCONT)
	agents["a"].waitLine(t, "copy ended")
	wantCopiesOn(t, "a,b", one, two)
}

// A subtree with takeover: its first node killed, the whole subtree runs
// on the next; that node back, the subtree moves back to it, stopped on
// the other first, each of its processes never beside its other copy.
func TestSubtreeTakeover(t *testing.T) {
	agents, cl := startCluster(t, "a", "b")
	one, two := subtreeLogs(t)
	spec := subtreeSpec(one, two, "a", "b")
	spec.Children[0].Takeover = true
	tree, ready := startTree(t, spec, cl)
	waitReady(t, ready, "a")
	agents["a"].signal(t, syscall.SIGKILL)
	waitReady(t, ready, "b")
	startAgentAt(t, "a", cl.Nodes["a"])
	if c := movedBack(t, tree, ready, "a"); c.State != supervision.StateRunning || c.Node != "a" || c.Restarts != 1 {
		t.Errorf("subtree %s on %q after %d restarts, want running on a after 1 (the takeover is not one)", c.State, c.Node, c.Restarts)
	}
	for _, log := range []string{one, two} {
		if got := strings.Join(checkLog(t, log), ","); !strings.HasPrefix(got, "a,b,") || !strings.HasSuffix(got, ",a") {
			t.Errorf("%s: copies started on %s, want a, b, then back on a", filepath.Base(log), got)
		}
	}
}

// A subtree's own child failing is handled on its node, by the subtree's
// supervisor: the subtree (one_for_all) restarts its children there, and
// the supervising program sees no failure.
func TestSubtreeChildFails(t *testing.T) {
	agents, cl := startCluster(t, "a", "b")
	one, two := subtreeLogs(t)
	tree, ready := startTree(t, subtreeSpec(one, two, "a", "b"), cl)
	waitReady(t, ready, "a")
	if err := syscall.Kill(workerPid(t, one), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	agents["a"].waitLine(t, `msg="child ready" supervisor=svc child=two incarnation=2`)
	// Restarted inside the same copy of the subtree: the same epoch.
	for _, log := range []string{one, two} {
		data, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		var starts []string
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			switch f := strings.Fields(line); f[0] {
			case "overlap":
				t.Errorf("%s: a process started while another ran:\n%s", filepath.Base(log), data)
			case "start":
				starts = append(starts, f[1]+" "+f[2])
			}
		}
		if len(starts) != 2 || starts[0] != starts[1] || !strings.HasSuffix(starts[0], " a") {
			t.Errorf("%s: started as %q, want twice in the same epoch on a", filepath.Base(log), starts)
		}
	}
	children, err := tree.Supervisor().Children(testproc.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	if c := children[0]; c.State != supervision.StateRunning || c.Node != "a" || c.Restarts != 0 {
		t.Errorf("subtree %s on %q after %d restarts, want running on a after none", c.State, c.Node, c.Restarts)
	}
}

// workerPid is the pid of the copy worker that logs to log (its first
// argument).
func workerPid(t *testing.T, log string) int {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(d + "/cmdline")
		if err != nil {
			continue
		}
		if args := bytes.Split(cmdline, []byte{0}); len(args) > 1 && string(args[1]) == log {
			var pid int
			if _, err := fmt.Sscan(filepath.Base(d), &pid); err == nil {
				return pid
			}
		}
	}
	t.Fatalf("no worker logs to %s", log)
	return 0
}

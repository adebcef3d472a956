//go:build linux

package cluster_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// netns is a pair of network namespaces joined by a veth pair: the link
// a partition cuts.
type netns struct {
	owner, node string // the namespaces
	nodeLink    string // the veth end in node
	ownerAddr   string // the owner's address, on its veth end
	nodeAddr    string
}

// ip runs ip(8) with args, failing the test on an error.
func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetns makes the namespaces and their link, removed when the test
// ends (after the processes in them, whose cleanups run first). It skips
// the test unless it runs as root with ip(8).
func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip(8): apt-get install iproute2")
	}
	id := os.Getpid() % 1_000_000
	n := &netns{
		owner:     fmt.Sprintf("understudy-o%d", id),
		node:      fmt.Sprintf("understudy-n%d", id),
		nodeLink:  fmt.Sprintf("usn%d", id),
		ownerAddr: "10.211.0.1",
		nodeAddr:  "10.211.0.2",
	}
	ownerLink := fmt.Sprintf("uso%d", id)
	if out, err := exec.Command("ip", "netns", "add", n.owner).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.owner).Run() })
	ip(t, "netns", "add", n.node)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.node).Run() })
	ip(t, "link", "add", ownerLink, "netns", n.owner, "type", "veth", "peer", "name", n.nodeLink, "netns", n.node)
	for _, end := range []struct{ ns, link, addr string }{{n.owner, ownerLink, n.ownerAddr}, {n.node, n.nodeLink, n.nodeAddr}} {
		ip(t, "-n", end.ns, "addr", "add", end.addr+"/24", "dev", end.link)
		ip(t, "-n", end.ns, "link", "set", end.link, "up")
		ip(t, "-n", end.ns, "link", "set", "lo", "up")
	}
	return n
}

// start starts this test binary in ns with env added, its output
// collected.
func (n *netns) start(t *testing.T, name, ns string, env ...string) *agent {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{name: name}
	a.cond = newCond(a)
	a.cmd = exec.Command("ip", "netns", "exec", ns, exe) // ip execs it: the pid is the program's
	a.cmd.Env = append(os.Environ(), env...)
	startReading(t, a)
	return a
}

// A partition made with a veth pair between two network namespaces: the
// node agent in one, the supervising program in the other. The link is
// cut until both sides have given the lease up (the node killed its copy,
// the supervisor declared the node lost), then restored: no two copies
// ever ran at once, and the child runs again on the node within its
// bound, counted from the restore.
func TestVethPartition(t *testing.T) {
	n := newNetns(t)
	log := filepath.Join(t.TempDir(), "copies")
	nodeListen := n.nodeAddr + ":7401"
	node := n.start(t, "a", n.node, nodeRoleEnv+"=a,"+nodeListen)
	node.waitLine(t, "listening ")
	owner := n.start(t, "owner", n.owner, fmt.Sprintf("%s=%s;%v;a=%s;%s:0", ownerRoleEnv, log, lease, nodeListen, n.ownerAddr))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node:\n%s\nowner:\n%s", node.output(), owner.output())
		}
	})
	owner.waitNth(t, "ready a", 1)

	ip(t, "-n", n.node, "link", "set", n.nodeLink, "down")
	node.waitLine(t, "copy ended") // the node gave its copy up
	owner.waitLine(t, "exited a")  // and the supervisor the node
	ip(t, "-n", n.node, "link", "set", n.nodeLink, "up")
	restored := time.Now()
	owner.waitNth(t, "ready a", 2)
	took := time.Since(restored)

	// The bound: a placement attempt, the remote's redial (every 2 s),
	// and the child's own start, on a loaded machine.
	if bound := 2*lease + 5*time.Second; took > bound {
		t.Errorf("the child ran again %v after the link came back, want within %v", took, bound)
	}
	starts := checkLog(t, log)
	if len(starts) < 2 || strings.Trim(strings.Join(starts, ""), "a") != "" {
		t.Errorf("copies started on %v, want a, then a again", starts)
	}
	t.Logf("running again %v after the link came back; %d copies, none beside another", took, len(starts))
}

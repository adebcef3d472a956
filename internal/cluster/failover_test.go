//go:build linux

package cluster_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/cluster"
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// The tests' lease is long enough that a loaded machine does not lose
// one by accident; the benchmarks use benchLease, the figure users ask
// about.
const (
	lease      = time.Second * raceSlowdown
	benchLease = 300 * time.Millisecond
)

// cluster starts the node agents names and returns them with the tree
// options that reach them.
func startCluster(t *testing.T, names ...string) (map[string]*agent, supervision.Cluster) {
	t.Helper()
	agents := map[string]*agent{}
	cl := supervision.Cluster{Nodes: map[string]string{}, Lease: lease}
	for _, n := range names {
		a := startAgent(t, n)
		agents[n], cl.Nodes[n] = a, a.addr
	}
	return agents, cl
}

// copySpec is a tree of one remote child, the copy worker, on nodes.
func copySpec(log string, nodes ...string) supervision.Spec {
	return supervision.Spec{
		Intensity: supervision.Intensity{MaxRestarts: 100, Period: time.Minute},
		Children: []supervision.ChildSpec{{
			Name:     "svc",
			Process:  &procbridge.Spec{Worker: "copy", Args: []string{log}, StopGrace: time.Second},
			Nodes:    nodes,
			Backoff:  supervision.Backoff{Initial: time.Millisecond, Max: time.Millisecond},
			Shutdown: time.Second,
		}},
	}
}

// startTree starts spec in this process and returns a channel of the
// nodes its child became ready on.
func startTree(t *testing.T, spec supervision.Spec, cl supervision.Cluster) (*supervision.Tree, <-chan string) {
	t.Helper()
	ready := make(chan string, 64)
	tree, err := supervision.Start(testproc.Context(t), spec, supervision.Options{
		Cluster: cl,
		OnEvent: func(ev supervision.Event) {
			if r, ok := ev.(supervision.ChildReady); ok {
				ready <- r.Node
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := tree.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return tree, ready
}

func waitReady(t *testing.T, ready <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ready:
		if got != want {
			t.Fatalf("ready on node %q, want %q", got, want)
		}
	case <-time.After(testproc.Deadline):
		t.Fatalf("not ready on node %q", want)
	}
}

// checkLog fails the test if two copies ever ran at once, and returns the
// nodes the copies started on, in order.
func checkLog(t *testing.T, log string) []string {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	var last string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("bad line %q", line)
		}
		switch f[0] {
		case "overlap":
			t.Errorf("copy of epoch %s on %s started while another ran:\n%s", f[1], f[2], data)
		case "start":
			if last != "" && f[1] <= last {
				t.Errorf("epoch %s after %s: not rising", f[1], last)
			}
			last = f[1]
			nodes = append(nodes, f[2])
		}
	}
	return nodes
}

// A node SIGKILLed: its child runs again on the next node, once the
// lease has expired, and never beside the copy that was lost.
func TestNodeKilled(t *testing.T) {
	agents, cl := startCluster(t, "a", "b", "c")
	log := filepath.Join(t.TempDir(), "copies")
	_, ready := startTree(t, copySpec(log, "a", "b", "c"), cl)
	waitReady(t, ready, "a")
	agents["a"].signal(t, syscall.SIGKILL)
	waitReady(t, ready, "b")
	agents["b"].signal(t, syscall.SIGKILL)
	waitReady(t, ready, "c")
	if got := checkLog(t, log); strings.Join(got, ",") != "a,b,c" {
		t.Errorf("copies started on %v, want a, b, c", got)
	}
}

// A node SIGSTOPped past its lease, then continued (a partition that
// heals): its copy is killed by the lease keeper before the lease ends,
// the child runs again on the next node, and the node, continued, ends
// its stale copy without starting anything.
func TestNodePaused(t *testing.T) {
	agents, cl := startCluster(t, "a", "b")
	log := filepath.Join(t.TempDir(), "copies")
	tree, ready := startTree(t, copySpec(log, "a", "b"), cl)
	waitReady(t, ready, "a")
	agents["a"].signal(t, syscall.SIGSTOP)
	waitReady(t, ready, "b")
	agents["a"].signal(t, syscall.SIGCONT)
	agents["a"].waitLine(t, "copy ended")
	children, err := tree.Supervisor().Children(testproc.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	if c := children[0]; c.State != supervision.StateRunning || c.Node != "b" {
		t.Errorf("child %s on %q after the node came back, want running on b", c.State, c.Node)
	}
	if got := checkLog(t, log); strings.Join(got, ",") != "a,b" {
		t.Errorf("copies started on %v, want a, b", got)
	}
}

// Takeover: the child's first node killed, it runs on the next; that
// node back, the child moves back to it, stopped on the other first.
func TestTakeover(t *testing.T) {
	agents, cl := startCluster(t, "a", "b")
	log := filepath.Join(t.TempDir(), "copies")
	spec := copySpec(log, "a", "b")
	spec.Children[0].Takeover = true
	tree, ready := startTree(t, spec, cl)
	waitReady(t, ready, "a")
	agents["a"].signal(t, syscall.SIGKILL)
	waitReady(t, ready, "b")
	startAgentAt(t, "a", cl.Nodes["a"])
	if c := movedBack(t, tree, ready, "a"); c.State != supervision.StateRunning || c.Node != "a" || c.Restarts != 1 {
		t.Errorf("child %s on %q after %d restarts, want running on a after 1 (the takeover is not one)", c.State, c.Node, c.Restarts)
	}
	if got := strings.Join(checkLog(t, log), ","); !strings.HasPrefix(got, "a,b,") || !strings.HasSuffix(got, ",a") {
		t.Errorf("copies started on %v, want a, b, then back on a", got)
	}
}

// movedBack waits for the tree's one remote child to be ready on node
// again, once node is back (a node that comes back slow to claim is
// passed over, on to the next again, and tried at the next probe), and
// returns the child's state then.
func movedBack(t *testing.T, tree *supervision.Tree, ready <-chan string, node string) supervision.ChildInfo {
	t.Helper()
	for at := ""; at != node; {
		select {
		case at = <-ready:
		case <-time.After(testproc.Deadline):
			t.Fatalf("the child did not move back to %s", node)
		}
	}
	children, err := tree.Supervisor().Children(testproc.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	return children[0]
}

const ownerRoleEnv = "CLUSTER_TEST_OWNER" // log;lease;name=addr,...[;listen]

// ownerRole runs a tree of one copy child as a supervising program of
// its own, printing "ready NODE" as the child becomes ready and "exited
// NODE" as it ends, until SIGTERM.
func ownerRole() {
	v := os.Getenv(ownerRoleEnv)
	if v == "" {
		return
	}
	parts := strings.Split(v, ";")
	cl := supervision.Cluster{Nodes: map[string]string{}}
	cl.Lease, _ = time.ParseDuration(parts[1])
	var names []string
	for _, kv := range strings.Split(parts[2], ",") {
		n, addr, _ := strings.Cut(kv, "=")
		cl.Nodes[n] = addr
		names = append(names, n)
	}
	if len(parts) > 3 {
		cl.Listen = parts[3]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	tree, err := supervision.Start(ctx, copySpec(parts[0], names...), supervision.Options{
		Cluster: cl,
		OnEvent: func(ev supervision.Event) {
			switch ev := ev.(type) {
			case supervision.ChildReady:
				fmt.Printf("ready %s\n", ev.Node)
			case supervision.ChildExited:
				fmt.Printf("exited %s: %v\n", ev.Node, ev.Err)
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	<-ctx.Done()
	_, _ = tree.Stop(context.Background())
	os.Exit(0)
}

// The supervising program SIGKILLed: its node kills the copy before the
// lease ends, and a new run of the program starts the child again, never
// beside the old copy.
func TestOwnerKilled(t *testing.T) {
	agents, cl := startCluster(t, "a", "b")
	log := filepath.Join(t.TempDir(), "copies")
	var nodes []string
	for _, n := range []string{"a", "b"} {
		nodes = append(nodes, n+"="+cl.Nodes[n])
	}
	owner := func() *agent {
		exe, _ := os.Executable()
		o := &agent{name: "owner"}
		o.cond = newCond(o)
		o.cmd = exec.Command(exe)
		o.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s;%v;%s", ownerRoleEnv, log, lease, strings.Join(nodes, ",")))
		startReading(t, o)
		return o
	}
	first := owner()
	first.waitLine(t, "ready a")
	first.signal(t, syscall.SIGKILL)
	agents["a"].waitLine(t, "copy ended")
	second := owner()
	second.waitLine(t, "ready a")
	if got := checkLog(t, log); strings.Join(got, ",") != "a,a" {
		t.Errorf("copies started on %v, want a, a", got)
	}
}

// Partitions, one after the other: the node the child runs on is paused
// past the lease, the child runs again on the other node, the node is
// continued. Never two copies at once. CLUSTER_PARTITIONS sets how many
// (default 3); CLUSTER_LEASE the lease (default the tests').
func TestPartitions(t *testing.T) {
	n, l := 3, lease
	if v := os.Getenv("CLUSTER_PARTITIONS"); v != "" {
		fmt.Sscan(v, &n)
	}
	if v := os.Getenv("CLUSTER_LEASE"); v != "" {
		l, _ = time.ParseDuration(v)
	}
	agents, cl := startCluster(t, "a", "b")
	cl.Lease = l
	t.Cleanup(func() {
		if t.Failed() {
			for _, a := range agents {
				t.Logf("node %s:\n%s", a.name, a.output())
			}
		}
	})
	log := filepath.Join(t.TempDir(), "copies")
	spec := copySpec(log, "a", "b")
	spec.Intensity = supervision.Intensity{MaxRestarts: 10 * n, Period: time.Hour}
	_, ready := startTree(t, spec, cl)
	on := <-ready
	for i := range n {
		agents[on].signal(t, syscall.SIGSTOP)
		for {
			select {
			case next := <-ready:
				if next == on {
					continue // a restart there, before the pause took hold
				}
				agents[on].signal(t, syscall.SIGCONT)
				on = next
			case <-time.After(testproc.Deadline):
				t.Fatalf("partition %d: the child did not move off %s", i, on)
			}
			break
		}
	}
	starts := checkLog(t, log)
	t.Logf("%d partitions, %d copies started, none beside another", n, len(starts))
}

// The supervising program answers no claim sent by datagram, as behind a
// firewall that drops them: the node claims over the remote after each
// unanswered one, and the child stays on its first node, its lease held,
// for five leases.
func TestRenewalWithoutDatagrams(t *testing.T) {
	dropped := cluster.DropGrantsForTest(t)
	_, cl := startCluster(t, "a", "b")
	log := filepath.Join(t.TempDir(), "copies")
	_, ready := startTree(t, copySpec(log, "a", "b"), cl)
	waitReady(t, ready, "a")
	select {
	case n := <-ready:
		t.Fatalf("the child started again, on node %q: its lease was lost", n)
	case <-time.After(5 * lease):
	}
	if dropped() == 0 {
		t.Fatal("no claim came by datagram: nothing was tested")
	}
	if got := checkLog(t, log); strings.Join(got, ",") != "a" {
		t.Errorf("copies started on %v, want a alone", got)
	}
}

// A node sends a child's events by datagram, and over the remote those
// the supervising program does not say it took: with the remote's
// dropped, the child is still seen ready, killed, restarted and ready
// again, and each death restarts it once.
func TestEventsByDatagram(t *testing.T) {
	cluster.DropRemoteEventsForTest(t)
	testEvents(t)
}

// Events whose datagrams are lost come over the remote, after a wait.
func TestEventsDatagramsLost(t *testing.T) {
	cluster.DropEventDatagramsForTest(t)
	testEvents(t)
}

// With both paths open, an event that comes both ways is told once: one
// ChildReady a process, one restart a death.
func TestEventsTakenOnce(t *testing.T) {
	testEvents(t)
}

// A restart sends nothing over the remote but the new copy's Start: the
// dead copy's events and its end go by datagram alone, acknowledged, and
// so does the new copy's first claim, its owner's datagrams answered
// before. (Over five restarts, fewer than five claims or events come over
// the remote: a loaded machine may hold an acknowledgement past its wait.)
func TestRestartByDatagram(t *testing.T) {
	_, cl := startCluster(t, "a")
	cl.Lease = 3 * lease // no renewal falls among the restarts
	next := restartingTree(t, cl, nil)
	const kills = 5
	pid := next()
	before := cluster.OverRemoteForTest()
	for range kills {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		pid = next()
	}
	if n := cluster.OverRemoteForTest() - before; n >= kills {
		t.Errorf("%d claims and events over the remote in %d restarts", n, kills)
	}
}

// restartingTree starts a tree of one child on node a of cl, started
// again at once when it dies, stopped when the test ends; observe, when
// not nil, is told each event before a ChildReady's pid is passed on.
// next waits, up to the deadline, for the pid of the next copy told ready.
func restartingTree(t *testing.T, cl supervision.Cluster, observe func(supervision.Event)) (next func() int) {
	t.Helper()
	spec := copySpec(filepath.Join(t.TempDir(), "copies"), "a")
	spec.Children[0].Backoff = supervision.Backoff{Initial: -1}
	ready := make(chan int, 64)
	tree, err := supervision.Start(testproc.Context(t), spec, supervision.Options{
		Cluster: cl,
		OnEvent: func(ev supervision.Event) {
			if observe != nil {
				observe(ev)
			}
			if e, ok := ev.(supervision.ChildReady); ok {
				ready <- e.Ready.Pid
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := tree.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return func() int {
		t.Helper()
		select {
		case pid := <-ready:
			return pid
		case <-time.After(testproc.Deadline):
			t.Fatal("the child was not seen ready")
			return 0
		}
	}
}

func testEvents(t *testing.T) {
	_, cl := startCluster(t, "a")
	var mu sync.Mutex
	readies, restarts := map[int]int{}, 0
	next := restartingTree(t, cl, func(ev supervision.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case supervision.ChildReady:
			readies[e.Ready.Pid]++
		case supervision.ChildRestarting:
			restarts++
		}
	})
	const kills = 5
	pid := next()
	for range kills {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			mu.Lock()
			seen := fmt.Sprintf("told ready (pid: times): %v; %d restarts", readies, restarts)
			mu.Unlock()
			t.Fatalf("kill %d: %v; %s", pid, err, seen)
		}
		pid = next()
	}
	mu.Lock()
	defer mu.Unlock()
	if restarts != kills {
		t.Errorf("%d restarts for %d deaths", restarts, kills)
	}
	for p, n := range readies {
		if n != 1 {
			t.Errorf("process %d told ready %d times", p, n)
		}
	}
	if len(readies) != kills+1 {
		t.Errorf("%d processes told ready, want %d", len(readies), kills+1)
	}
}

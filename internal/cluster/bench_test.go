//go:build linux

package cluster_test

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/supervision"
)

// readyAt is a ChildReady seen by the tree: where, which pid, when.
type readyAt struct {
	node string
	pid  int
	at   time.Time
}

func startTreeAt(b *testing.B, spec supervision.Spec, cl supervision.Cluster) (*supervision.Tree, <-chan readyAt) {
	b.Helper()
	// A start can fail on a machine loaded in the tens, its node held up
	// past a 300 ms lease before the child was ready (a start failure
	// ends the tree, as in OTP): try again, untimed.
	var err error
	for range 5 {
		ready := make(chan readyAt, 64)
		var tree *supervision.Tree
		tree, err = supervision.Start(testproc.Context(b), spec, supervision.Options{
			Cluster: cl,
			OnEvent: func(ev supervision.Event) {
				if r, ok := ev.(supervision.ChildReady); ok {
					ready <- readyAt{node: r.Node, pid: r.Ready.Pid, at: time.Now()}
				}
			},
		})
		if err == nil {
			return tree, ready
		}
	}
	b.Fatal(err)
	return nil, nil
}

func nextReady(b *testing.B, ready <-chan readyAt) readyAt {
	b.Helper()
	select {
	case r := <-ready:
		return r
	case <-time.After(testproc.Deadline):
		b.Fatal("not ready")
		return readyAt{}
	}
}

func report(b *testing.B, samples []time.Duration) {
	slices.Sort(samples)
	// The sample at rank ceil(q·n): with fewer than 100 samples, p99 is
	// the largest.
	p := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(samples)))) - 1
		return float64(samples[max(i, 0)].Nanoseconds())
	}
	b.ReportMetric(p(0.5), "p50-ns")
	b.ReportMetric(p(0.99), "p99-ns")
}

// BenchmarkNodeKilled: a node agent SIGKILLed, to its child ready on the
// next node, with a 300 ms lease. Each iteration starts two node agents
// and a tree (not timed).
func BenchmarkNodeKilled(b *testing.B) {
	var samples []time.Duration
	for b.Loop() {
		b.StopTimer()
		agents, cl := startClusterB(b, "a", "b")
		log := filepath.Join(b.TempDir(), "copies")
		b.Cleanup(func() {
			if b.Failed() {
				for _, a := range agents {
					b.Logf("node %s:\n%s", a.name, a.output())
				}
			}
		})
		tree, ready := startTreeAt(b, copySpec(log, "a", "b"), cl)
		if r := nextReady(b, ready); r.node != "a" {
			b.Fatalf("ready on %q", r.node)
		}
		b.StartTimer()
		killed := time.Now()
		if err := agents["a"].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		r := nextReady(b, ready)
		samples = append(samples, r.at.Sub(killed))
		b.StopTimer()
		if r.node != "b" {
			b.Fatalf("ready on %q after a was killed", r.node)
		}
		if _, err := tree.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		for _, a := range agents {
			_ = a.cmd.Process.Signal(syscall.SIGTERM)
			_ = a.cmd.Wait()
		}
		b.StartTimer()
	}
	report(b, samples)
}

// BenchmarkChildKilled: a child's process SIGKILLed, to its replacement
// ready, on this machine (local) and on a live node (remote), side by
// side.
func BenchmarkChildKilled(b *testing.B) {
	_, cl := startClusterB(b, "a")
	for _, where := range []string{"local", "remote"} {
		b.Run(where, func(b *testing.B) {
			log := filepath.Join(b.TempDir(), "copies")
			spec := copySpec(log)
			if where == "remote" {
				spec = copySpec(log, "a")
			}
			spec.Children[0].Backoff = supervision.Backoff{Initial: -1} // none
			tree, ready := startTreeAt(b, spec, cl)
			defer func() { _, _ = tree.Stop(context.Background()) }()
			r := nextReady(b, ready)
			var samples []time.Duration
			for b.Loop() {
				killed := time.Now()
				if err := syscall.Kill(r.pid, syscall.SIGKILL); err != nil {
					b.Fatal(err)
				}
				r = nextReady(b, ready)
				samples = append(samples, r.at.Sub(killed))
			}
			report(b, samples)
		})
	}
}

// startClusterB is startCluster for a benchmark.
func startClusterB(b *testing.B, names ...string) (map[string]*agent, supervision.Cluster) {
	b.Helper()
	agents := map[string]*agent{}
	cl := supervision.Cluster{Nodes: map[string]string{}, Lease: benchLease}
	for _, n := range names {
		a := startAgent(b, n)
		agents[n], cl.Nodes[n] = a, a.addr
	}
	return agents, cl
}

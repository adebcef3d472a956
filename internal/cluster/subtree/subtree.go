// Package subtree runs, on a node, a remote child that is a whole subtree
// (a ChildSpec with Supervisor and Nodes). The supervising program places
// it as the copy of a process child whose process is this package's
// worker (cluster.SubtreeWorker), its one argument the subtree's spec as
// JSON; the node agent runs it like any copy, under the copy's lease. The
// worker starts the subtree as a tree of its own, says it is ready once
// the tree is up, stops it on SIGTERM, and exits with the tree's failure
// when its intensity is exceeded: to the supervising program the subtree
// is one child that starts, fails and stops as a whole.
//
// A program that runs node agents links this package (for its init).
package subtree

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/understudy/understudy/internal/cluster"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
	"github.com/understudy/understudy/supervision"
)

func init() { worker.Register(cluster.SubtreeWorker, run) }

// run is the worker: os.Args[1] is the subtree's spec, os.Args[2] its
// name (the root of its tree on the node).
func run(ctx context.Context, w *worker.Worker) error {
	if len(os.Args) != 3 {
		return errors.New("subtree: want two arguments, the spec (JSON) and the name")
	}
	var spec supervision.Spec
	if err := json.Unmarshal([]byte(os.Args[1]), &spec); err != nil {
		return fmt.Errorf("subtree: spec: %w", err)
	}
	fence(&spec, cluster.LeaseEnv())
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	tree, err := supervision.Start(ctx, spec, supervision.Options{Name: os.Args[2], Logger: log})
	if err != nil {
		return err
	}
	w.Ready()
	select {
	case <-tree.Done():
		return tree.Wait(context.Background())
	case <-ctx.Done():
		_, err := tree.Stop(context.Background())
		return err
	}
}

// fence gives every process of spec that has an environment of its own
// the copy's lease variables: the other processes inherit them.
func fence(spec *supervision.Spec, env []string) {
	for i := range spec.Children {
		c := &spec.Children[i]
		if c.Supervisor != nil {
			fence(c.Supervisor, env)
		}
		for p := c.Process; p != nil; p = p.Spare {
			fenceProcess(p, env)
		}
	}
}

func fenceProcess(p *procbridge.Spec, env []string) {
	if p.Env != nil {
		p.Env = append(p.Env, env...)
	}
}

package cluster

import "os"

// SubtreeWorker is the worker (procbridge.Spec.Worker) that runs, on a
// node, a remote child that is a whole subtree: the supervising program
// sends it as the copy's process, with the subtree's spec (JSON) as its
// one argument, and the node runs it as any copy, under the copy's lease.
// The package internal/cluster/subtree registers it; a program that runs
// node agents links that package.
const SubtreeWorker = "understudy-subtree"

// LeaseEnv returns the variables that fence this process's copy (its
// lease token, epoch and node), as KEY=VALUE, for the processes a subtree
// copy starts with an environment of their own: the lease keeper finds a
// copy's processes by the token.
func LeaseEnv() []string {
	var env []string
	for _, k := range []string{leaseEnv, EpochEnv, NodeEnv} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

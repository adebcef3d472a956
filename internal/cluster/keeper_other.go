//go:build !linux

package cluster

import "errors"

// leaseEnv is the variable that carries a copy's lease token.
const leaseEnv = "UNDERSTUDY_LEASE"

// KeeperMain returns at once: the lease keeper needs Linux.
func KeeperMain() {}

type keeper struct{}

func startKeeper() (*keeper, error) {
	return nil, errors.New("cluster: a node agent needs Linux (its lease keeper does)")
}

func (*keeper) set(string, int64) {}
func (*keeper) pid(string, int)   {}
func (*keeper) drop(string)       {}
func (*keeper) close() error      { return nil }

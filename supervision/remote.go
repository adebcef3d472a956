package supervision

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/internal/cluster"
	"github.com/understudy/understudy/procbridge"
)

// Cluster says how a tree reaches the nodes its remote children run on
// (ChildSpec.Nodes): each node is an agent, `understudy node`, listening
// at an address. The messages that cross are protobuf, over
// protoactor-go's remote (gRPC streams); lease renewals also go as UDP
// datagrams between the nodes and this program's Listen port (where they
// cannot, they go over the remote alone, at a higher cost).
type Cluster struct {
	// Listen is the host:port this program listens on, TCP and UDP, for
	// its nodes' lease renewals and events. Empty means 127.0.0.1 and a
	// free port.
	Listen string
	// Nodes maps each node's name to its agent's host:port.
	Nodes map[string]string
	// Lease is how long a node may run a child's copy without renewing
	// with this program (it renews every third of it). A node that
	// cannot renew kills its copy before the lease expires, and the
	// child restarts elsewhere only after it has: the lease bounds the
	// failover time (a lost node is noticed between two thirds of a lease
	// and a lease after its last renewal), and a shorter one costs more
	// renewals and fails over on shorter stalls (a loaded machine, a
	// garbage-collection pause). A program that starts waits one lease
	// before it places its first copy, so that the copies of a previous
	// run of it have been killed. Zero means 1s.
	Lease time.Duration
}

// ErrNodeLost is the failure of a remote child whose node stopped
// renewing its lease (it died, or is cut off, or paused) until the lease
// expired.
var ErrNodeLost = cluster.ErrNodeLost

func (c *Cluster) validate(spec *Spec) error {
	var v validator
	if c.Lease < 0 || (c.Lease > 0 && c.Lease < 10*time.Millisecond) {
		v.bad("Options.Cluster.Lease", c.Lease, "want at least 10ms, or 0 for 1s")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Nodes)) {
		if name == "" || c.Nodes[name] == "" {
			v.bad("Options.Cluster.Nodes", strconv.Quote(name)+": "+strconv.Quote(c.Nodes[name]), "want a node name and its host:port")
		}
	}
	c.checkNodes(&v, "", spec)
	return errors.Join(v.errs...)
}

// checkNodes reports every node a child names that the cluster has no
// address for.
func (c *Cluster) checkNodes(v *validator, prefix string, s *Spec) {
	for i := range s.Children {
		cs := &s.Children[i]
		field := fmt.Sprintf("%s[%d]", join(prefix, "Children"), i)
		for j, n := range cs.Nodes {
			if _, ok := c.Nodes[n]; !ok {
				v.bad(fmt.Sprintf("%s.Nodes[%d]", field, j), strconv.Quote(n), "no such node in Options.Cluster.Nodes")
			}
		}
		if cs.Supervisor != nil {
			c.checkNodes(v, field+".Supervisor", cs.Supervisor)
		}
	}
}

// remoteRunner runs a child on another node, through a proxy actor
// (internal/cluster) that stands for it as a process actor does. A
// subtree runs there as the process of the subtree worker
// (cluster.SubtreeWorker), a tree of its own on the node.
type remoteRunner struct{}

func (remoteRunner) start(ctx actor.Context, s *supervisor, c *child) (*actor.PID, error) {
	if s.sh.cluster == nil {
		return nil, fmt.Errorf("supervision: %s: Nodes set but Options.Cluster names no nodes: %w", c.name, ErrInvalid)
	}
	var spec procbridge.Spec
	if c.spec.Supervisor != nil {
		var err error
		if spec, err = subtreeProcess(c.name, &c.spec); err != nil {
			return nil, err
		}
	} else {
		spec = *c.spec.Process
	}
	if spec.Name == "" {
		spec.Name = c.name
	}
	kill := c.spec.Shutdown == BrutalKill
	if !kill && c.spec.Supervisor == nil {
		spec.StopGrace = c.spec.stopGrace()
	}
	wait := spec.StopGrace + killWait
	if kill {
		wait = killWait
	}
	props, err := s.sh.cluster.NewProps(spec, cluster.ProxyOptions{
		Key:         s.path + "/" + c.name,
		Nodes:       c.spec.Nodes,
		Observer:    ctx.Self(),
		Incarnation: c.incarnation,
		Standby:     c.spec.Standby,
		Kill:        kill,
		StopWait:    wait,
		Takeover:    c.spec.Takeover,
	})
	if err != nil {
		return nil, err
	}
	return ctx.SpawnNamed(props, c.name)
}

func (remoteRunner) stop(ctx actor.Context, _ *supervisor, c *child) { ctx.Stop(c.actor) }

// subtreeProcess is the process a remote subtree runs as on its node: the
// subtree worker, handed the subtree's spec as JSON and name as its
// arguments. It is ready once the subtree is up, and given, to stop, the
// subtree's Shutdown or, for Infinity, the sum of its children's stop
// bounds (they stop one after the other).
func subtreeProcess(name string, c *ChildSpec) (procbridge.Spec, error) {
	text, err := json.Marshal(c.Supervisor)
	if err != nil {
		return procbridge.Spec{}, fmt.Errorf("supervision: %s: the subtree's spec does not cross to a node: %w", name, err)
	}
	grace := c.Shutdown
	if grace <= 0 || grace == Infinity {
		grace = c.Supervisor.stopAll()
	}
	return procbridge.Spec{
		Name: name, Worker: cluster.SubtreeWorker, Args: []string{string(text), name},
		ReadyTimeout: subtreeReadyTimeout, StopGrace: grace,
	}, nil
}

// subtreeReadyTimeout bounds the start of a remote subtree, all its
// children ready.
const subtreeReadyTimeout = time.Minute

// stopAll is the longest a supervisor of s takes to stop its children,
// one after the other, each within the bound it is waited for.
func (s *Spec) stopAll() time.Duration {
	var total time.Duration
	for i := range s.Children {
		c := &s.Children[i]
		if b := c.stopBound(); b > 0 {
			total += b
		} else {
			total += c.Supervisor.stopAll() // a subtree with no bound of its own
		}
	}
	return max(total, time.Second)
}

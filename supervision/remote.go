package supervision

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/understudy/understudy/internal/cluster"
)

// Cluster says how a tree reaches the nodes its remote children run on
// (ChildSpec.Nodes): each node is an agent, `understudy node`, listening
// at an address. The messages that cross are protobuf, over
// protoactor-go's remote (gRPC streams).
type Cluster struct {
	// Listen is the host:port this program listens on for its nodes'
	// lease renewals and events. Empty means 127.0.0.1 and a free port.
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

// remoteRunner runs a process child on another node, through a proxy
// actor (internal/cluster) that stands for it as a process actor does.
type remoteRunner struct{}

func (remoteRunner) start(ctx actor.Context, s *supervisor, c *child) (*actor.PID, error) {
	if s.sh.cluster == nil {
		return nil, fmt.Errorf("supervision: %s: Nodes set but Options.Cluster names no nodes: %w", c.name, ErrInvalid)
	}
	spec := *c.spec.Process
	if spec.Name == "" {
		spec.Name = c.name
	}
	kill := c.spec.Shutdown == BrutalKill
	if !kill {
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

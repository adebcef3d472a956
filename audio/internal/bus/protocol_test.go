package bus

import (
	"strconv"
	"strings"
	"testing"

	"github.com/understudy/understudy/internal/protodoc"
)

// busPrefixes are the groups of docs/node-protocol.md's constants that
// this package holds; the audio package checks the others.
var busPrefixes = []string{"bus.", "header.", "host.", "host_lane.", "node.", "node_lane.", "lane_state.", "recovered.", "priority.", "setup."}

// TestNodeProtocolConstants: the bus's layout is what docs/node-protocol.md
// says, word for word.
func TestNodeProtocolConstants(t *testing.T) {
	doc, err := protodoc.Constants("../../../docs/node-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	code := map[string]uint64{
		"bus.magic": Magic, "bus.version": uint64(Version), "bus.line": line,
		"header.magic": offMagic, "header.version": offVersion, "header.nodes": offNodes, "header.lanes": offLanes,
		"header.block_size": offBlockSize, "header.total_size": offTotal, "header.hosts": offHosts,
		"header.stop": offStop, "header.driver": offDriver, "header.cycle_base": offCycleBase,
		"host.header": hostHeader, "host.lane_size": hostLane, "host.req": offReq, "host.wake": offWake, "host.wake_at": offWakeAt,
		"host_lane.promoted_at": offPromotedAt, "host_lane.adopted": offAdopted, "host_lane.pid": offPid,
		"host_lane.state": offState, "host_lane.recovered": offRecovered, "host_lane.tid": offTid,
		"host_lane.priority": offPriority, "host_lane.setup": offSetup,
		"node.header": nodeHeader, "node.lane_size": laneSize,
		"node.fault_cycle": offFaultCycle, "node.fault_kind": offFaultKind, "node.fault_point": offFaultPoint,
		"node.fault_fired": offFaultFired, "node.fault_fired_at": offFaultFiredAt, "node.fault_spin": offFaultSpin,
		"node_lane.done": offDone, "node_lane.start_at": offStartAt, "node_lane.finish_at": offFinishAt,
		"lane_state.parked": uint64(LaneParked), "lane_state.active": uint64(LaneActive),
		"recovered.none": uint64(RecoveredNone), "recovered.compute": uint64(RecoveredCompute),
		"recovered.reuse": uint64(RecoveredReuse), "recovered.between": uint64(RecoveredBetween),
		"priority.denied": PriorityDenied, "setup.memory_locked": uint64(SetupMemoryLocked), "setup.threads_raised": uint64(SetupThreadsRaised),
	}
	for name, v := range doc {
		mine := false
		for _, p := range busPrefixes {
			mine = mine || strings.HasPrefix(name, p)
		}
		if !mine {
			continue
		}
		want, ok := code[name]
		if !ok {
			t.Errorf("docs/node-protocol.md's %s is not checked here", name)
			continue
		}
		got, err := strconv.ParseUint(v, 0, 64)
		if err != nil || got != want {
			t.Errorf("%s: the page says %s, the code has %d (%#x)", name, v, want, want)
		}
	}
	for name := range code {
		if _, ok := doc[name]; !ok {
			t.Errorf("%s is not in docs/node-protocol.md's table", name)
		}
	}
}

package audio

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/understudy/understudy/internal/protodoc"
)

// TestNodeProtocolConstants: the engine's side of docs/node-protocol.md's
// constants, those outside the bus's layout (audio/internal/bus checks
// those).
func TestNodeProtocolConstants(t *testing.T) {
	doc, err := protodoc.Constants("../docs/node-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	code := map[string]uint64{
		"version": nodeProtocol,
		// The bus is ExtraFiles[0] of the node's procbridge.Spec, which
		// hands extra files from descriptor 6 on.
		"fd.bus":       6,
		"state.header": stateHeader,
		"fault.kill":   faultKill, "fault.hang": faultHang, "fault.overrun": faultOverrun, "fault.segv": faultSegv,
		"point.before_compute": uint64(beforeCompute), "point.after_output": uint64(afterOutput),
		"point.after_commit": uint64(afterCommit), "point.after_publish": uint64(afterPublish),
	}
	bus := []string{"bus.", "header.", "host.", "host_lane.", "node.", "node_lane.", "lane_state.", "recovered.", "priority.", "setup."}
	for name, v := range doc {
		if slices.ContainsFunc(bus, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		want, ok := code[name]
		if !ok {
			t.Errorf("docs/node-protocol.md's %s is checked nowhere", name)
			continue
		}
		if got, err := strconv.ParseUint(v, 0, 64); err != nil || got != want {
			t.Errorf("%s: the page says %s, the code has %d", name, v, want)
		}
	}
	for name := range code {
		if _, ok := doc[name]; !ok {
			t.Errorf("%s is not in docs/node-protocol.md's table", name)
		}
	}
	if faultKinds[faultKill] != "kill" || faultPoints[afterPublish] != "after-publish" {
		t.Error("fault codes and names disagree")
	}
}

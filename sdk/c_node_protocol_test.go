//go:build linux

package sdk_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/protodoc"
)

// cNodeUnused are the names of docs/node-protocol.md's table the C node
// library has no macro for, and why.
var cNodeUnused = map[string]string{
	"header.nodes": "not read: the engine hands the node its records' offsets",
	"header.hosts": "not read: the engine hands the node its records' offsets",
}

// TestCNodeConstants: every constant of docs/node-protocol.md's table is
// the C node library's (its macro is the name upper-cased, with the
// library's prefix), or is named above as one it does without.
func TestCNodeConstants(t *testing.T) {
	doc, err := protodoc.Constants("../docs/node-protocol.md")
	require.NoError(t, err)
	macros := cMacros(t, "c/understudy_node.c", "c/understudy_node.h")
	prefix := map[string]string{
		"bus": "BUS_", "header": "BUS_H_", "host": "BUS_HOST_", "host_lane": "BUS_HL_", "node": "BUS_NODE_",
		"node_lane": "BUS_NL_", "lane_state": "LANE_", "recovered": "RECOVERED_", "priority": "PRIORITY_",
		"setup": "SETUP_", "fault": "FAULT_", "point": "POINT_", "state": "STATE_", "fd": "",
	}
	special := map[string]string{
		"version": "USN_PROTOCOL_VERSION", "fd.bus": "BUS_FD", "node.fault_cycle": "BUS_FAULT_CYCLE",
		"node.fault_kind": "BUS_FAULT_KIND", "node.fault_point": "BUS_FAULT_POINT", "node.fault_fired": "BUS_FAULT_FIRED",
		"node.fault_fired_at": "BUS_FAULT_FIRED_AT", "node.fault_spin": "BUS_FAULT_SPIN",
		"header.total_size": "BUS_H_TOTAL", "node.lane_size": "BUS_NODE_LANE", "host.lane_size": "BUS_HOST_LANE",
	}
	for name, want := range doc {
		if _, ok := cNodeUnused[name]; ok {
			continue
		}
		macro, ok := special[name]
		if !ok {
			group, rest, _ := strings.Cut(name, ".")
			macro = prefix[group] + strings.ToUpper(rest)
		}
		got, ok := macros[macro]
		if !assert.True(t, ok, "%s: no #define %s in the C node library", name, macro) {
			continue
		}
		assert.Equal(t, normalise(want), got, "%s (%s)", name, macro)
	}
}

//go:build linux

package sdk_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/protodoc"
)

// cNames maps the names of docs/protocol.md's table of constants to the C
// SDK's macros (in understudy.c, or understudy.h for the public ones).
var cNames = map[string]string{
	"version":                   "US_LAYOUT_VERSION",
	"magic":                     "MAGIC",
	"header.size":               "HEADER_SIZE",
	"header.magic":              "H_MAGIC",
	"header.version":            "H_VERSION",
	"header.header_size":        "H_HEADER_SIZE",
	"header.total_size":         "H_TOTAL",
	"header.attach_verdict":     "H_VERDICT",
	"header.lanes":              "H_LANES",
	"header.lane_size":          "H_LANE_SIZE",
	"header.state_size":         "H_STATE_SIZE",
	"header.ring_size":          "H_RING_SIZE",
	"header.heartbeat_interval": "H_HB_INTERVAL",
	"header.lanes_off":          "H_LANES_OFF",
	"header.state_off":          "H_STATE_OFF",
	"header.rings_off":          "H_RINGS_OFF",
	"header.heartbeat_timeout":  "H_HB_TIMEOUT",
	"header.control":            "H_CONTROL",
	"lane.size":                 "LANE_SIZE",
	"lane.heartbeat":            "L_HEARTBEAT",
	"lane.last_beat":            "L_LAST_BEAT",
	"lane.mark":                 "L_MARK",
	"lane.ready":                "L_READY",
	"lane.pid":                  "L_PID",
	"lane.robust_tid":           "L_ROBUST_TID",
	"lane.park_loops":           "L_PARK_LOOPS",
	"lane.park":                 "L_PARK",
	"lane.robust":               "L_ROBUST",
	"line":                      "LINE",
	"max_lanes":                 "MAX_LANES",
	"robust_words":              "ROBUST_WORDS",
	"max_state_size":            "MAX_STATE_SIZE",
	"max_ring_size":             "MAX_RING_SIZE",
	"max_epoch":                 "MAX_EPOCH",
	"ready.no":                  "READY_NO",
	"ready.yes":                 "READY_YES",
	"park.waiting":              "PARK_WAITING",
	"park.promoted":             "PARK_PROMOTED",
	"futex.waiters":             "F_WAITERS",
	"futex.owner_died":          "F_OWNER_DIED",
	"futex.tid_mask":            "F_TID_MASK",
	"attach.bad_magic":          "VERDICT_BAD_MAGIC",
	"attach.bad_version":        "VERDICT_BAD_VERSION",
	"attach.bad_size":           "VERDICT_BAD_SIZE",
	"attach.bad_lane":           "VERDICT_BAD_LANE",
	"attach.exit_status":        "US_EXIT_REFUSED",
	"state.slot_header":         "SLOT_HEADER",
	"state.slot_seq":            "SLOT_SEQ",
	"state.slot_epoch":          "SLOT_EPOCH",
	"state.slot_len":            "SLOT_LEN",
	"ring.header":               "RING_HEADER",
	"ring.head":                 "RING_HEAD",
	"ring.tail":                 "RING_TAIL",
	"ring.waiters":              "RING_WAITERS",
	"ring.message_header":       "MSG_HEADER",
	"env.segment_fd":            "ENV_SEGMENT_FD",
	"env.lane":                  "ENV_LANE",
	"env.lifeline_fd":           "ENV_LIFELINE_FD",
	"env.sentinel_fd":           "ENV_SENTINEL_FD",
	"env.watchdog_fd":           "ENV_WATCHDOG_FD",
	"env.epoch":                 "ENV_EPOCH",
}

// cUnused are the table's names the C SDK has no macro for, and why.
var cUnused = map[string]string{
	"header.flags":     "always 0, not read",
	"ready.aborted":    "the supervisor's value; the SDK only swaps 0 for 1",
	"attach.ok":        "0, no verdict written",
	"state.sequence":   "offset 0 of a lane's state region",
	"ring.to_worker":   "ring 0, by index",
	"ring.from_worker": "ring 1, by index",
	"fd.segment":       "read from the environment",
	"fd.lifeline":      "read from the environment",
	"fd.sentinel":      "read from the environment",
	"env.worker":       "for Go workers re-executed from the supervisor's binary",
}

// TestCConstants: every constant of docs/protocol.md's table is the C
// SDK's, or is named here as one it does without: a change to the layout
// that the C SDK does not follow fails here.
func TestCConstants(t *testing.T) {
	doc := constants(t)
	macros := cMacros(t, "c/understudy.c", "c/understudy.h")
	for name, want := range doc {
		macro, ok := cNames[name]
		if !ok {
			_, unused := cUnused[name]
			assert.True(t, unused, "docs/protocol.md's %s has no C macro and is not listed as unused", name)
			continue
		}
		got, ok := macros[macro]
		if !assert.True(t, ok, "%s: no #define %s in the C SDK", name, macro) {
			continue
		}
		assert.Equal(t, normalise(want), got, "%s (%s)", name, macro)
	}
	for name := range cNames {
		_, ok := doc[name]
		assert.True(t, ok, "%s is not in docs/protocol.md's table", name)
	}
}

var (
	defineRe = regexp.MustCompile(`^#define\s+(\w+)\s+(.+?)\s*(/\*.*)?$`)
	shiftRe  = regexp.MustCompile(`^\(UINT64_C\((\d+)\) << (\d+)\)$`)
	wrapRe   = regexp.MustCompile(`^U?INT(?:32|64)_C\((\w+)\)$`)
)

// cMacros reads the object-like #defines of the files, their values
// normalised (UINT64_C(x) is x, (UINT64_C(1) << n) is computed, numbers
// in decimal, strings without quotes).
func cMacros(t *testing.T, files ...string) map[string]string {
	got := map[string]string{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, line := range strings.Split(string(data), "\n") {
			m := defineRe.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			v := m[2]
			if s := shiftRe.FindStringSubmatch(v); s != nil {
				a, _ := strconv.ParseUint(s[1], 10, 64)
				n, _ := strconv.ParseUint(s[2], 10, 64)
				v = strconv.FormatUint(a<<n, 10)
			} else if s := wrapRe.FindStringSubmatch(v); s != nil {
				v = s[1]
			}
			got[m[1]] = normalise(v)
		}
	}
	return got
}

// normalise writes a number in decimal and a string without its quotes.
func normalise(v string) string {
	v = strings.Trim(v, `"`)
	if n, err := strconv.ParseUint(v, 0, 64); err == nil {
		return strconv.FormatUint(n, 10)
	}
	return v
}

// constants reads the table of constants in docs/protocol.md.
func constants(t *testing.T) map[string]string {
	got, err := protodoc.Constants("../docs/protocol.md")
	require.NoError(t, err)
	return got
}

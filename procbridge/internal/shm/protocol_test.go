package shm

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/protodoc"
)

// protocolDoc is the written protocol, whose table of constants this
// package must match.
var protocolDoc = filepath.Join("..", "..", "..", "docs", "protocol.md")

// protocolNames maps the names of docs/protocol.md's table of constants to
// this package's constants.
var protocolNames = map[string]any{
	"version":                   Version,
	"magic":                     Magic,
	"header.size":               HeaderSize,
	"header.magic":              offMagic,
	"header.version":            offVersion,
	"header.header_size":        offHeaderSize,
	"header.total_size":         offTotalSize,
	"header.attach_verdict":     offAttachErr,
	"header.lanes":              offLanes,
	"header.lane_size":          offLaneSize,
	"header.state_size":         offStateSize,
	"header.ring_size":          offRingSize,
	"header.flags":              offFlags,
	"header.heartbeat_interval": offHBInterval,
	"header.lanes_off":          offLanesOff,
	"header.state_off":          offStateOff,
	"header.rings_off":          offRingsOff,
	"header.heartbeat_timeout":  offHBTimeout,
	"header.control":            offControl,
	"lane.size":                 LaneSize,
	"lane.heartbeat":            laneHeartbeat,
	"lane.last_beat":            laneLastBeat,
	"lane.mark":                 laneMark,
	"lane.ready":                laneReady,
	"lane.pid":                  lanePid,
	"lane.robust_tid":           laneRobustTid,
	"lane.park_loops":           laneParkLoops,
	"lane.park":                 lanePark,
	"lane.robust":               laneRobust,
	"line":                      lineSize,
	"max_lanes":                 MaxLanes,
	"robust_words":              RobustWords,
	"max_state_size":            MaxStateSize,
	"max_ring_size":             MaxRingSize,
	"max_epoch":                 MaxEpoch,
	"ready.no":                  ReadyNo,
	"ready.yes":                 ReadyYes,
	"ready.aborted":             ReadyAborted,
	"park.waiting":              ParkWaiting,
	"park.promoted":             ParkPromoted,
	"futex.waiters":             FutexWaiters,
	"futex.owner_died":          FutexOwnerDied,
	"futex.tid_mask":            FutexTIDMask,
	"attach.ok":                 AttachOK,
	"attach.exit_status":        ExitRefused,
	"attach.bad_magic":          AttachBadMagic,
	"attach.bad_version":        AttachBadVersion,
	"attach.bad_size":           AttachBadSize,
	"attach.bad_lane":           AttachBadLane,
	"state.sequence":            laneSeqOff,
	"state.slot_header":         slotHdrSize,
	"state.slot_seq":            slotSeq,
	"state.slot_epoch":          slotEpoch,
	"state.slot_len":            slotLen,
	"ring.to_worker":            ToWorker,
	"ring.from_worker":          FromWorker,
	"ring.header":               ringHdrSize,
	"ring.head":                 ringHead,
	"ring.tail":                 ringTail,
	"ring.waiters":              ringWaiters,
	"ring.message_header":       msgHdr,
	"fd.segment":                FdSegment,
	"fd.lifeline":               FdLifeline,
	"fd.sentinel":               FdSentinel,
	"env.segment_fd":            EnvSegmentFd,
	"env.lane":                  EnvLane,
	"env.lifeline_fd":           EnvLifelineFd,
	"env.sentinel_fd":           EnvSentinelFd,
	"env.watchdog_fd":           EnvWatchdogFd,
	"env.epoch":                 EnvEpoch,
	"env.worker":                EnvWorker,
}

// notProtocol are this package's constants that no peer sees: how this
// implementation reads, not what it reads.
var notProtocol = map[string]bool{
	"maxReadTries":    true, // a reader's bound on retries against a writer
	"maxReadCopies":   true,
	"ControlSame":     true, // the supervisor's verdicts on a control word
	"ControlPromoted": true,
	"ControlCorrupt":  true,
}

// docValue formats a constant as the table writes it: strings as they
// are, the magic and the futex bits in hex, other numbers in decimal.
func docValue(name string, v any) string {
	switch v := v.(type) {
	case string:
		return v
	case AttachVerdict:
		return fmt.Sprint(uint32(v))
	}
	if name == "magic" || strings.HasPrefix(name, "futex.") {
		return fmt.Sprintf("%#x", v)
	}
	return fmt.Sprint(v)
}

// TestProtocolDoc: docs/protocol.md's table of constants is exactly this
// package's: every row names a constant and gives its value, and every
// constant is in the table.
func TestProtocolDoc(t *testing.T) {
	doc := constants(t)
	for name, v := range protocolNames {
		want := docValue(name, v)
		got, ok := doc[name]
		if assert.True(t, ok, "docs/protocol.md lacks %s (%s)", name, want) {
			assert.Equal(t, want, got, "docs/protocol.md gives %s as %s; the code has %s", name, got, want)
		}
	}
	for name := range doc {
		_, ok := protocolNames[name]
		assert.True(t, ok, "docs/protocol.md lists %s, which the code does not have", name)
	}
	assert.Contains(t, readDoc(t), fmt.Sprintf("**Layout version %d.**", Version), "the page names the layout version it describes")
}

// TestProtocolDocCoversEveryConstant: a constant added to this package is
// either in the protocol's table or said to be no part of it.
func TestProtocolDocCoversEveryConstant(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	known := map[string]bool{}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				for _, id := range spec.(*ast.ValueSpec).Names {
					known[id.Name] = true
				}
			}
		}
	}
	mapped := map[string]bool{}
	for _, name := range constIdents(t) {
		mapped[name] = true
	}
	for name := range known {
		if name == "_" || notProtocol[name] {
			continue
		}
		assert.True(t, mapped[name], "constant %s is neither in docs/protocol.md's table (protocolNames) nor in notProtocol", name)
	}
}

// constIdents returns the identifiers protocolNames refers to, read from
// this file's source.
func constIdents(t *testing.T) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "protocol_test.go", nil, 0)
	require.NoError(t, err)
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "protocolNames" {
			return true
		}
		for _, elt := range vs.Values[0].(*ast.CompositeLit).Elts {
			if id, ok := elt.(*ast.KeyValueExpr).Value.(*ast.Ident); ok {
				out = append(out, id.Name)
			}
		}
		return false
	})
	require.NotEmpty(t, out)
	return out
}

func readDoc(t *testing.T) string {
	b, err := os.ReadFile(protocolDoc)
	require.NoError(t, err)
	return string(b)
}

// constants reads the table of constants in docs/protocol.md.
func constants(t *testing.T) map[string]string {
	got, err := protodoc.Constants(protocolDoc)
	require.NoError(t, err)
	return got
}

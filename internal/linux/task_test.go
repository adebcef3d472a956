package linux

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		name  string
		line  string
		state byte
		flags uint64
	}{
		{"a worker", "4242 (worker) S 1 4242 4242 0 -1 4194560 120 0 0 0\n", 'S', 4194560},
		{"a command name with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 4194368 0\n", 'R', 4194368},
		{"an exiting thread", "9 (w) D 1 9 9 0 -1 4 0\n", 'D', PFExiting},
		{"cut after the state", "9 (w) Z", 'Z', 0},
		{"cut before the state", "9 (w)", 0, 0},
		{"no command name", "garbage", 0, 0},
		{"flags not a number", "9 (w) S 1 9 9 0 -1 x 0", 'S', 0},
	} {
		state, flags := parseStat([]byte(c.line))
		assert.Equal(t, c.state, state, c.name)
		assert.Equal(t, c.flags, flags, c.name)
	}
}

func TestParseCPU(t *testing.T) {
	line := "627 (c a t) R 621 621 11722 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 8576211 3133440 409 " +
		"18446744073709551615 94736020291584 94736020311465 140721053587760 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n"
	assert.Equal(t, 3, parseCPU([]byte(line)))
	assert.Equal(t, -1, parseCPU([]byte("627 (cat) R 621 621")), "cut short")
	assert.Equal(t, -1, parseCPU([]byte("garbage")))
}

func TestParseSchedstat(t *testing.T) {
	for _, c := range []struct {
		line              string
		run, wait, slices int64
	}{
		{"123456 7890 12\n", 123456, 7890, 12},
		{"5", 5, 0, 0},
		{"", 0, 0, 0},
		{"x 3 1", 0, 3, 1},
	} {
		run, wait, slices := parseSchedstat([]byte(c.line))
		assert.Equal(t, c.run, run, "%q", c.line)
		assert.Equal(t, c.wait, wait, "%q", c.line)
		assert.Equal(t, c.slices, slices, "%q", c.line)
	}
}

func TestParseVoluntary(t *testing.T) {
	for _, c := range []struct {
		status string
		want   int64
	}{
		{"Name:\tbeating-counter\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t176\nnonvoluntary_ctxt_switches:\t41\n", 176},
		{"Name:\tx\nnonvoluntary_ctxt_switches:\t41\nvoluntary_ctxt_switches:\t0\n", 0},
		{"Name:\tvoluntary_ctxt_switches:\t9\n", -1}, // a thread's name is not the line
		{"Name:\tx\nvoluntary_ctxt_switches:\t", -1}, // cut short
		{"Name:\tx\nvoluntary_ctxt_switches:\t12x\n", -1},
		{"Name:\tx\nvoluntary_ctxt_switches:\t99999999999999999999\n", -1},
		{"", -1},
	} {
		assert.Equal(t, c.want, parseVoluntary([]byte(c.status)), "%q", c.status)
	}
}

func TestProcPath(t *testing.T) {
	assert.Equal(t, "/proc/42/task/43/stat\x00", string(ProcPath(nil, 42, 43, "stat")))
	assert.Equal(t, "/proc/42/task\x00", string(ProcPath(nil, 42, 0, "task")))
	assert.Equal(t, "/proc/42\x00", string(ProcPath(nil, 42, 0, "")))
}

// FuzzTaskStat: a worker names its own threads (comm, up to 15 bytes, any
// of them ")", spaces or digits): the stat parser returns the kernel's
// state and flags after the last ")", never a field of the name.
func FuzzTaskStat(f *testing.F) {
	f.Add([]byte("x) R 1 2 ("), byte('S'), uint64(4194368))
	f.Add([]byte(")))"), byte('R'), uint64(0))
	f.Add([]byte("a b c d e f g h"), byte('Z'), uint64(1<<21))
	f.Fuzz(func(t *testing.T, comm []byte, state byte, flags uint64) {
		if len(comm) > 15 || state == ' ' || state == '\n' || state == '\t' || state == ')' {
			return
		}
		for _, c := range comm {
			if c == 0 || c == '\n' {
				return
			}
		}
		line := fmt.Sprintf("4242 (%s) %s 1 4242 4242 0 -1 %d 0 0 0 0\n", comm, []byte{state}, flags)
		gotState, gotFlags := parseStat([]byte(line))
		assert.Equal(t, state, gotState, "%q", line)
		assert.Equal(t, flags, gotFlags, "%q", line)
		parseStat(comm) // garbage alone never panics
	})
}

func TestParseThreads(t *testing.T) {
	// A real stat line (a Go worker of 7 threads), its command name with a
	// space and a parenthesis.
	line := "5151 (a (w) x) S 5150 5151 5150 0 -1 4194560 1520 0 0 0 3 1 0 0 20 0 7 0 987654 1250000000 4000 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n"
	assert.Equal(t, int64(7), parseThreads([]byte(line)))
	assert.Equal(t, int64(0), parseThreads([]byte("9 (w) S 1 9 9 0 -1 4 0")), "cut before num_threads")
	assert.Equal(t, int64(0), parseThreads([]byte("garbage")))
}

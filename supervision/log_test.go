package supervision

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/understudy/understudy/procbridge"
)

// TestProcessRecordOfAViolation: a worker that broke the segment protocol is
// logged as a warning naming it, not as an anonymous child-process record.
func TestProcessRecordOfAViolation(t *testing.T) {
	err := errors.New("control word = 0x1c8, want 0x100")
	level, msg, attrs := processRecord(ChildProcess{Event: procbridge.Violated{Pid: 4242, Err: err}})
	assert.Equal(t, slog.LevelWarn, level)
	assert.Equal(t, "child broke the segment protocol", msg)
	assert.Contains(t, attrs, slog.Int("pid", 4242))

	assert.Equal(t, "primary broke the segment protocol", primaryEnd(procbridge.Violated{Pid: 4242, Err: err}))
}

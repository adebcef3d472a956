package audio

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/understudy/understudy/procbridge"
)

// Sentinel errors. Every error this package returns wraps one of them, so
// callers match with [errors.Is]; a *procbridge.SpecError carries the
// field at fault, its value and why.
var (
	// ErrInvalidGraph reports a problem in a [Graph] (rate, block size,
	// node names, kinds and their parameters, edges, a cycle), or a [Kind]
	// that cannot be registered, or is registered too late.
	ErrInvalidGraph = errors.New("audio: invalid graph")
	// ErrInvalidConfig reports a [Config] field that cannot work, among
	// them a block period shorter than this driver can honour for the
	// graph, the slack and the watchdog (the error says by how much: raise
	// BlockSize or Slack).
	ErrInvalidConfig = errors.New("audio: invalid engine config")
	// ErrNodeDown reports a node process's primary that ended with no
	// spare ready to take over. Its supervisor restarts it cold (Run goes
	// on, with the blocks it misses reported) unless that exceeds the
	// supervisor's intensity: then the supervisor gives up, every node
	// process is stopped, and Run fails with an error wrapping ErrNodeDown
	// and the *supervision.EscalationError.
	ErrNodeDown = errors.New("audio: node down")
	// ErrClosed reports a Run after Close.
	ErrClosed = errors.New("audio: engine closed")
	// ErrInvalidWAV reports a WAV stream this package cannot read, a WAV
	// file it cannot write (arguments out of range, or past the 4 GiB RIFF
	// limit), or samples that cannot be compared as given.
	ErrInvalidWAV = errors.New("audio: invalid WAV")
)

// errShape reports buffers that break a Processor's rules (checkBuffers).
var errShape = errors.New("audio: buffer shape mismatch")

// fieldErr names field, its value (nil: missing) and why, wrapping err.
func fieldErr(err error, field string, value any, format string, args ...any) *procbridge.SpecError {
	return &procbridge.SpecError{Field: field, Value: formatValue(value), Reason: fmt.Sprintf(format, args...), Err: err}
}

func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return strconv.Quote(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	default:
		return fmt.Sprint(v)
	}
}

// unjoin returns the errors err joins, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

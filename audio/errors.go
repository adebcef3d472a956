package audio

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Every error this package returns wraps one of them, so
// callers match with [errors.Is]; [*FieldError] and [*CycleError] carry the
// details.
var (
	// ErrInvalidWAV reports a WAV stream, or WAV writer arguments, that this
	// package cannot write or read.
	ErrInvalidWAV = errors.New("audio: invalid WAV")
	// ErrWAVTooLarge reports a write that would take the RIFF file past its
	// 4 GiB size limit.
	ErrWAVTooLarge = errors.New("audio: WAV data exceeds the 4 GiB RIFF limit")
	// ErrClosed reports a write to a closed [WAVWriter].
	ErrClosed = errors.New("audio: WAV writer closed")
	// ErrUnknownKind reports a processor kind that is not registered.
	ErrUnknownKind = errors.New("audio: unknown kind")
	// ErrInvalidParam reports a missing, unknown or out-of-range parameter,
	// or a sample rate a kind cannot run at.
	ErrInvalidParam = errors.New("audio: invalid parameter")
	// ErrInvalidGraph reports a structural problem in a [Graph]: rate, block
	// size, node names, edges.
	ErrInvalidGraph = errors.New("audio: invalid graph")
	// ErrCycle reports a [Graph] whose edges form a cycle; see [*CycleError].
	ErrCycle = errors.New("audio: graph has a cycle")
	// ErrShape reports buffers whose count or length does not fit: a
	// processor's ports and state, or two renders to compare.
	ErrShape = errors.New("audio: buffer shape mismatch")
	// ErrInvalidKind reports a [Kind] that cannot be registered.
	ErrInvalidKind = errors.New("audio: invalid kind")
	// ErrLateRegistration reports a [RegisterKind] call made after an
	// engine started: too late for node processes to know the kind.
	ErrLateRegistration = errors.New("audio: kind registered too late")
)

// A FieldError reports one field, parameter or argument holding a value that
// is not allowed, and why.
type FieldError struct {
	Op     string // what was being done or built: "wav", "graph", a kind name
	Field  string // the field, parameter or argument, e.g. "Nodes[2].Name"
	Value  any    // the offending value; nil when there is none (missing)
	Reason string // what is wrong with it
	Err    error  // the sentinel this error wraps, e.g. ErrInvalidParam
}

// Error returns "audio: <op>: <field> = <value>: <reason>", or without
// " = <value>" when Value is nil (a missing parameter).
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("audio: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Field)
	if e.Value != nil {
		b.WriteString(" = ")
		b.WriteString(formatValue(e.Value))
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the sentinel error.
func (e *FieldError) Unwrap() error { return e.Err }

// A CycleError reports a cycle among a graph's nodes. It wraps [ErrCycle].
type CycleError struct {
	// Path names the nodes along the cycle; the first name is repeated at
	// the end, as in ["a", "b", "a"].
	Path []string
}

// Error returns "audio: graph: cycle: a -> b -> a".
func (e *CycleError) Error() string {
	return "audio: graph: cycle: " + strings.Join(e.Path, " -> ")
}

// Unwrap returns [ErrCycle].
func (e *CycleError) Unwrap() error { return ErrCycle }

func formatValue(v any) string {
	switch v := v.(type) {
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

func fieldErr(err error, op, field string, value any, format string, args ...any) *FieldError {
	return &FieldError{Op: op, Field: field, Value: value, Reason: fmt.Sprintf(format, args...), Err: err}
}

package supervision

import (
	"errors"
	"strings"
)

// ErrInvalid is wrapped by every error this package returns for bad input:
// a field Validate rejects (a *procbridge.SpecError whose Err is
// ErrInvalid), or a spec file's problem.
var ErrInvalid = errors.New("supervision: invalid value")

// Strategy says which children a supervisor restarts when one of them
// fails. Its values are OTP's names, the words of the spec file; the zero
// value means OneForOne, OTP's default.
type Strategy string

const (
	// OneForOne restarts only the child that failed.
	OneForOne Strategy = "one_for_one"
	// OneForAll restarts every child when one fails.
	OneForAll Strategy = "one_for_all"
	// RestForOne restarts the child that failed and every child started
	// after it.
	RestForOne Strategy = "rest_for_one"
	// SimpleOneForOne is OneForOne for a supervisor whose children are all
	// started dynamically from one template.
	SimpleOneForOne Strategy = "simple_one_for_one"
)

var strategies = []Strategy{OneForOne, OneForAll, RestForOne, SimpleOneForOne}

// orDefault returns s, or OneForOne for the zero value.
func (s Strategy) orDefault() Strategy {
	if s == "" {
		return OneForOne
	}
	return s
}

// affected returns the indices, in start order, of the children that
// strategy s restarts when, of n children, the one at index failed fails.
// Indices count children in the order the supervisor started them, from 0.
//
//   - OneForOne, SimpleOneForOne: just failed.
//   - OneForAll: every child, 0 to n-1.
//   - RestForOne: failed and every child started after it, failed to n-1.
//
// The supervisor stops the affected children that are still running in
// reverse start order (the last started first), then starts them all again
// in start order, those that were not running too (terminated on request,
// or transient ones that ended cleanly), as OTP does. As in OTP, a
// Temporary child stopped this way is removed instead of started again,
// and affected is only consulted once shouldRestart has said the failed
// child itself restarts.
//
// affected returns nil if failed is not in [0, n) or s is not one of the
// strategies above.
func affected(s Strategy, n, failed int) []int {
	if failed < 0 || failed >= n {
		return nil
	}
	switch s.orDefault() {
	case OneForOne, SimpleOneForOne:
		return []int{failed}
	case OneForAll:
		return indices(0, n)
	case RestForOne:
		return indices(failed, n)
	}
	return nil
}

// indices returns from, from+1, ..., to-1.
func indices(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// names lists the words of all, for an error message: "a, b or c".
func names[T ~string](all []T) string {
	out := make([]string, len(all))
	for i, v := range all {
		out[i] = string(v)
	}
	if len(out) < 2 {
		return strings.Join(out, "")
	}
	return strings.Join(out[:len(out)-1], ", ") + " or " + out[len(out)-1]
}

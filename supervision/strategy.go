package supervision

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error this package returns for bad input:
// a name the Parse functions do not know, or a field Validate rejects.
var ErrInvalid = errors.New("supervision: invalid value")

// Strategy says which children a supervisor restarts when one of them fails.
// The zero value is OneForOne, OTP's default.
type Strategy int

const (
	// OneForOne restarts only the child that failed.
	OneForOne Strategy = iota
	// OneForAll restarts every child when one fails.
	OneForAll
	// RestForOne restarts the child that failed and every child started
	// after it.
	RestForOne
	// SimpleOneForOne is OneForOne for a supervisor whose children are all
	// started dynamically from one template.
	SimpleOneForOne
)

var strategies = []Strategy{OneForOne, OneForAll, RestForOne, SimpleOneForOne}

// String returns OTP's name for s, such as "one_for_one".
func (s Strategy) String() string {
	switch s {
	case OneForOne:
		return "one_for_one"
	case OneForAll:
		return "one_for_all"
	case RestForOne:
		return "rest_for_one"
	case SimpleOneForOne:
		return "simple_one_for_one"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// ParseStrategy returns the Strategy named s. It ignores case, underscores
// and hyphens, so "one_for_one", "one-for-one" and "OneForOne" all name
// OneForOne. An unknown name is an error wrapping [ErrInvalid].
func ParseStrategy(s string) (Strategy, error) {
	return parseName("strategy", s, strategies)
}

// Affected returns the indices, in start order, of the children that
// strategy s restarts when, of n children, the one at index failed fails.
// Indices count children in the order the supervisor started them, from 0.
//
//   - OneForOne, SimpleOneForOne: just failed.
//   - OneForAll: every child, 0 to n-1.
//   - RestForOne: failed and every child started after it, failed to n-1.
//
// The supervisor stops the affected children that are still running in
// reverse start order (the last started first: range over
// slices.Backward(affected)), then starts them again in start order. As in
// OTP, a Temporary child stopped this way is removed instead of started
// again, and Affected is only consulted once [ShouldRestart] has said the
// failed child itself restarts.
//
// Affected returns nil if failed is not in [0, n) or s is not one of the
// strategies above.
func Affected(s Strategy, n, failed int) []int {
	if failed < 0 || failed >= n {
		return nil
	}
	switch s {
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

// parseName returns the value among all whose String matches s, ignoring
// case, underscores and hyphens. what names the kind of value in errors.
func parseName[T interface {
	~int
	String() string
}](what, s string, all []T) (T, error) {
	key := normalizeName(s)
	names := make([]string, 0, len(all))
	for _, v := range all {
		if normalizeName(v.String()) == key {
			return v, nil
		}
		names = append(names, v.String())
	}
	return 0, fmt.Errorf("%w: %s %q (want one of %s)", ErrInvalid, what, s, strings.Join(names, ", "))
}

func normalizeName(s string) string {
	return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
}

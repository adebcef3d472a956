package supervision

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStrategyString(t *testing.T) {
	tests := []struct {
		s    Strategy
		want string
	}{
		{OneForOne, "one_for_one"},
		{OneForAll, "one_for_all"},
		{RestForOne, "rest_for_one"},
		{SimpleOneForOne, "simple_one_for_one"},
		{Strategy(-1), "Strategy(-1)"},
		{Strategy(42), "Strategy(42)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.s.String())
		})
	}
}

func TestStrategyZeroValueIsOneForOne(t *testing.T) {
	var s Strategy
	assert.Equal(t, OneForOne, s)
}

func TestParseStrategy(t *testing.T) {
	tests := []struct {
		in   string
		want Strategy
	}{
		{"one_for_one", OneForOne},
		{"one-for-one", OneForOne},
		{"OneForOne", OneForOne},
		{"ONE_FOR_ONE", OneForOne},
		{"one_for_all", OneForAll},
		{"one-for-all", OneForAll},
		{"rest_for_one", RestForOne},
		{"Rest-For-One", RestForOne},
		{"simple_one_for_one", SimpleOneForOne},
		{"simple-one-for-one", SimpleOneForOne},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStrategy(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseStrategyRejectsUnknownNames(t *testing.T) {
	for _, in := range []string{"", "one_for_none", " one_for_one", "all_for_one", "Strategy(0)"} {
		t.Run(in, func(t *testing.T) {
			_, err := ParseStrategy(in)
			require.ErrorIs(t, err, ErrInvalid)
			assert.ErrorContains(t, err, "strategy")
			assert.ErrorContains(t, err, `"`+in+`"`)
			assert.ErrorContains(t, err, "rest_for_one", "the error lists the valid names")
		})
	}
}

func TestAffected(t *testing.T) {
	tests := []struct {
		name   string
		s      Strategy
		n      int
		failed int
		want   []int
	}{
		{"one_for_one first", OneForOne, 4, 0, []int{0}},
		{"one_for_one middle", OneForOne, 4, 2, []int{2}},
		{"one_for_one last", OneForOne, 4, 3, []int{3}},
		{"one_for_one only child", OneForOne, 1, 0, []int{0}},
		{"simple_one_for_one", SimpleOneForOne, 100, 57, []int{57}},
		{"one_for_all first", OneForAll, 4, 0, []int{0, 1, 2, 3}},
		{"one_for_all last", OneForAll, 4, 3, []int{0, 1, 2, 3}},
		{"one_for_all only child", OneForAll, 1, 0, []int{0}},
		{"rest_for_one first", RestForOne, 4, 0, []int{0, 1, 2, 3}},
		{"rest_for_one middle", RestForOne, 4, 1, []int{1, 2, 3}},
		{"rest_for_one last", RestForOne, 4, 3, []int{3}},
		{"failed negative", OneForAll, 4, -1, nil},
		{"failed past the end", RestForOne, 4, 4, nil},
		{"no children", OneForOne, 0, 0, nil},
		{"negative n", OneForAll, -3, 0, nil},
		{"unknown strategy", Strategy(9), 4, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Affected(tt.s, tt.n, tt.failed))
		})
	}
}

// TestAffectedStopOrder pins down the documented order: stop the affected
// children last started first, then start them in start order.
func TestAffectedStopOrder(t *testing.T) {
	affected := Affected(RestForOne, 5, 2)
	var stops []int
	for _, i := range slices.Backward(affected) {
		stops = append(stops, i)
	}
	assert.Equal(t, []int{4, 3, 2}, stops)
	assert.Equal(t, []int{2, 3, 4}, affected)
}

func FuzzParseStrategy(f *testing.F) {
	for _, s := range strategies {
		f.Add(s.String())
	}
	f.Add("One-For_one")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseStrategy(in)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		again, err := ParseStrategy(s.String())
		require.NoError(t, err)
		require.Equal(t, s, again)
	})
}

package supervision

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStrategyZeroValueIsOneForOne(t *testing.T) {
	var s Strategy
	assert.Equal(t, OneForOne, s.orDefault())
	assert.Equal(t, affected(OneForOne, 4, 2), affected(s, 4, 2))
}

// TestEnumWordsAreTheFileFormats: the values of the enums are the words a
// spec file uses, OTP's names.
func TestEnumWordsAreTheFileFormats(t *testing.T) {
	assert.Equal(t, []Strategy{"one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"}, strategies)
	assert.Equal(t, []Restart{"permanent", "transient", "temporary"}, restarts)
	assert.Equal(t, []AutoShutdown{"never", "any_significant", "all_significant"}, autoShutdowns)
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
		{"unknown strategy", Strategy("all_for_one"), 4, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, affected(tt.s, tt.n, tt.failed))
		})
	}
}

// TestAffectedStopOrder pins down the documented order: stop the affected
// children last started first, then start them in start order.
func TestAffectedStopOrder(t *testing.T) {
	hit := affected(RestForOne, 5, 2)
	var stops []int
	for _, i := range slices.Backward(hit) {
		stops = append(stops, i)
	}
	assert.Equal(t, []int{4, 3, 2}, stops)
	assert.Equal(t, []int{2, 3, 4}, hit)
}

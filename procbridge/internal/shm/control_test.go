package shm

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReconcile(t *testing.T) {
	for _, c := range []struct {
		auth, seen uint64
		lanes      int
		want       Reconciled
	}{
		{0, 0, 2, ControlSame},
		{0, 1<<8 | 1, 2, ControlPromoted},
		{0, 1 << 8, 2, ControlCorrupt},   // the next epoch naming the primary itself (lane 0)
		{0, 200, 2, ControlCorrupt},      // a lane that does not exist
		{0, 0<<8 | 2, 2, ControlCorrupt}, // the lane count
		{0, 2<<8 | 1, 2, ControlCorrupt}, // an epoch out of turn
		{5<<8 | 1, 4 << 8, 2, ControlCorrupt},
		{0, 1, 1, ControlCorrupt}, // one lane: nothing is a promotion
		{(MaxEpoch - 1) << 8, MaxEpoch<<8 | 1, 2, ControlCorrupt},
	} {
		assert.Equal(t, c.want, Reconcile(c.auth, c.seen, c.lanes), "auth %#x seen %#x lanes %d", c.auth, c.seen, c.lanes)
	}
}

// FuzzReconcile: a verdict is one of three; Same only for the copy itself;
// Promoted only to another lane in range at the next epoch.
func FuzzReconcile(f *testing.F) {
	f.Add(uint64(0), uint64(0), uint8(2))
	f.Add(uint64(0), uint64(1<<8|1), uint8(2))
	f.Add(uint64(3<<8|1), uint64(4<<8|200), uint8(15))
	f.Add(uint64(1<<8), ^uint64(0), uint8(1))
	f.Fuzz(func(t *testing.T, auth, seen uint64, lanes uint8) {
		v := Reconcile(auth, seen, int(lanes))
		switch v {
		case ControlSame:
			assert.Equal(t, auth, seen)
		case ControlPromoted:
			assert.Equal(t, auth>>8+1, seen>>8)
			assert.Less(t, seen&0xff, uint64(lanes))
			assert.NotEqual(t, auth&0xff, seen&0xff)
			assert.Less(t, seen>>8, uint64(MaxEpoch))
		case ControlCorrupt:
			assert.NotEqual(t, auth, seen)
		default:
			t.Fatalf("verdict %d", v)
		}
	})
}

package mono

import (
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	for _, ns := range []int64{baseMono, baseMono + 1, baseMono - 12345, Now(), Now() + int64(time.Hour)} {
		if got := Of(Time(ns)); got != ns {
			t.Errorf("Of(Time(%d)) = %d", ns, got)
		}
	}
	a, b := Now(), Now()+987654321
	if d := Time(b).Sub(Time(a)); d != time.Duration(b-a) {
		t.Errorf("Time(b).Sub(Time(a)) = %v, want %v", d, time.Duration(b-a))
	}
	if Of(time.Time{}) != 0 {
		t.Error("Of(zero time) is not 0")
	}
}

func TestAgreesWithTimeNow(t *testing.T) {
	before := Now()
	now := Of(time.Now())
	after := Now()
	if now < before || now > after {
		t.Errorf("Of(time.Now()) = %d, not within [%d, %d]", now, before, after)
	}
}

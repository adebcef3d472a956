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
	// The base pair agrees with time.Now to within the gap of its own
	// readings, a fraction of a microsecond; allow a millisecond, so that a
	// preemption at the program's start cannot fail the test.
	const slack = int64(time.Millisecond)
	before := Now()
	now := Of(time.Now())
	after := Now()
	if now < before-slack || now > after+slack {
		t.Errorf("Of(time.Now()) = %d, not within [%d, %d] ± %d", now, before, after, slack)
	}
}

package procbridge

import "testing"

// FuzzBeatAge: the time of its last beat is the worker's to write.
// Whatever it holds, HeartbeatAge's age lies between 0 and the time since
// the worker was ready, and is 0 before it is ready; a stamp between ready
// and now is believed exactly. The hang monitor's progress, moved by a
// beat, lies after its last mark and no later than now.
func FuzzBeatAge(f *testing.F) {
	f.Add(int64(0), int64(1000), int64(5000))
	f.Add(int64(-1<<63), int64(1000), int64(5000))
	f.Add(int64(1<<63-1), int64(1000), int64(5000))
	f.Add(int64(3000), int64(1000), int64(5000))
	f.Add(int64(3000), int64(0), int64(5000))
	f.Fuzz(func(t *testing.T, at, ready, now int64) {
		if ready < now {
			// The monitor's progress, at ready, moved by a beat stamped at.
			if p := beatProgress(at, ready, now); p <= ready || p > now {
				t.Fatalf("beat %d after progress %d, now %d: progress %d", at, ready, now, p)
			}
		}
		age := beatAge(at, ready, now)
		if ready <= 0 || now < ready {
			if age != 0 {
				t.Fatalf("beat %d, ready %d, now %d: age %v before ready", at, ready, now, age)
			}
			return
		}
		if age < 0 || int64(age) > now-ready {
			t.Fatalf("beat %d, ready %d, now %d: age %v outside [0, %d]", at, ready, now, age, now-ready)
		}
		if at >= ready && at <= now && int64(age) != now-at {
			t.Fatalf("beat %d, ready %d, now %d: a plausible beat aged %v", at, ready, now, age)
		}
	})
}

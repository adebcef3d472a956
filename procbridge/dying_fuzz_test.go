//go:build linux

package procbridge

import (
	"encoding/binary"
	"testing"

	"github.com/understudy/understudy/procbridge/internal/shm"
)

// FuzzDyingWord: robust word 0 is the worker's to write, and so is the
// thread id it names. Whatever values the word takes, look after look,
// each look's step is one of the documented four (arm on the bare thread
// id, wait on it with the waiters bit, died only with the owner-died bit
// for that thread or none, done otherwise), and the waiter's budget ends
// the watch after a bounded number of looks that do not sleep out their
// timeout: at most 3 arms and 9 wakes, so a worker cannot make the waiter,
// which runs at real-time priority, spin.
func FuzzDyingWord(f *testing.F) {
	const tid = 4242
	word := func(vs ...uint32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, v)
			b = append(b, 1) // woken
		}
		return b
	}
	f.Add(uint32(tid), word(tid, tid|shm.FutexWaiters, shm.FutexOwnerDied))
	f.Add(uint32(tid), word(tid, tid, tid, tid))
	f.Add(uint32(tid), word(tid|shm.FutexWaiters, tid|shm.FutexWaiters, tid|shm.FutexWaiters, tid|shm.FutexWaiters,
		tid|shm.FutexWaiters, tid|shm.FutexWaiters, tid|shm.FutexWaiters, tid|shm.FutexWaiters, tid|shm.FutexWaiters, tid|shm.FutexWaiters))
	f.Add(uint32(0), word(0, shm.FutexWaiters, shm.FutexOwnerDied|1))
	f.Add(uint32(shm.FutexOwnerDied|tid), word(shm.FutexOwnerDied|tid, shm.FutexOwnerDied|shm.FutexWaiters|tid))
	f.Fuzz(func(t *testing.T, tid uint32, looks []byte) {
		var budget dyingBudget
		arms, wakes := 0, 0
		for ; len(looks) >= 5; looks = looks[5:] {
			v, woken := binary.LittleEndian.Uint32(looks), looks[4]&1 != 0
			step := dyingStepOf(v, tid)
			switch step {
			case dyingArm:
				if v != tid {
					t.Fatalf("word %#x armed for thread %#x", v, tid)
				}
			case dyingWait:
				if v != tid|shm.FutexWaiters {
					t.Fatalf("word %#x slept on for thread %#x", v, tid)
				}
			case dyingDied:
				if v&shm.FutexOwnerDied == 0 || v&shm.FutexTIDMask != 0 && v&shm.FutexTIDMask != tid {
					t.Fatalf("word %#x taken as the death of thread %#x", v, tid)
				}
			case dyingDone:
			default:
				t.Fatalf("word %#x: step %d", v, step)
			}
			if !budget.look(step, woken) {
				return // the worker is reported; the watch ends
			}
			switch {
			case step == dyingArm:
				arms++
			case step == dyingWait && woken:
				wakes++
			case step == dyingWait:
				// Slept its whole timeout: costs no CPU.
			default:
				return // died or done: the watch ends
			}
			if arms > 3 || wakes > maxSpuriousWakes+1 {
				t.Fatalf("the watch goes on after %d arms and %d wakes", arms, wakes)
			}
		}
	})
}

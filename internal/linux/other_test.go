//go:build !linux

package linux

import (
	"errors"
	"testing"
)

// TestNotSupported: what needs Linux says so.
func TestNotSupported(t *testing.T) {
	var w uint32
	for name, err := range map[string]error{
		"FutexWait":  FutexWait(&w, 0, 0),
		"FutexWaitv": FutexWaitv(nil),
		"SetFIFO":    SetFIFO(1),
	} {
		if !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := NewMemfd("x", 1, true); !errors.Is(err, ErrNotSupported) {
		t.Errorf("NewMemfd: %v", err)
	}
	if _, _, _, err := CgroupHome(); !errors.Is(err, ErrNotSupported) {
		t.Errorf("CgroupHome: %v", err)
	}
	if _, err := NewTimer(); !errors.Is(err, ErrNotSupported) {
		t.Errorf("NewTimer: %v", err)
	}
}

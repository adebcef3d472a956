//go:build !linux

package audio

import "runtime"

func rtProcs() int          { return runtime.NumCPU() + 4 }
func setupRealTime() uint32 { return 0 }

// raiseEngine does nothing: no real-time scheduling here.
func raiseEngine() (restore func()) { return func() {} }

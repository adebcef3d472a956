//go:build !linux

package audio

import "runtime"

func rtProcs() int          { return runtime.NumCPU() + 4 }
func setupRealTime() uint32 { return 0 }

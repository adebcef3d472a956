//go:build !linux

package audio

func setFIFO(int) error                        { return ErrNotSupported }
func gettid() int                              { return 0 }
func threadSched(int, int) (byte, int64, bool) { return 0, 0, false }

//go:build !linux

package bus

import (
	"errors"
	"os"
)

// ErrNotSupported: the audio bus needs Linux (memfd, futexes).
var errNotLinux = errors.New("the audio bus needs Linux")

func create(string, int) (*os.File, []byte, error) { return nil, nil, errNotLinux }
func mapFile(*os.File, int) ([]byte, error)        { return nil, errNotLinux }
func unmap([]byte) error                           { return nil }
func Wait(*uint32, uint32)                         {}
func WaitUntil(*uint32, uint32, int64) bool        { return true }
func Wake(*uint32, int)                            {}
func SleepUntil(int64)                             {}

// Supported reports whether this system has what the bus needs.
const Supported = false

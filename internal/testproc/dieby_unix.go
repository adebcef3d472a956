//go:build unix

package testproc

import (
	"os"
	"syscall"
)

// DieBy sends sig to this process and waits for it to take effect: a
// helper worker that returned instead would exit 0 before a
// process-directed signal landed on one of its threads. It returns only an
// error from kill.
func DieBy(sig syscall.Signal) error {
	if err := syscall.Kill(os.Getpid(), sig); err != nil {
		return err
	}
	select {}
}

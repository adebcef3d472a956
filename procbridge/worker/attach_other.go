//go:build !linux

package worker

import (
	"errors"

	"github.com/understudy/understudy/procbridge/internal/shm"
)

var errNotSupported = errors.New("worker: not supported on this system")

func attach() (*Worker, error) { return nil, errNotSupported }

func wake(*uint32) {}

func armWatchdog(int, int64) {}

type prompt struct{}

func promptWhileParked() *prompt { return &prompt{} }

func (*prompt) end(bool) {}

func disarmRobust(*shm.Lane) {}

func validFd(int) bool { return false }

func initTitle() {}

func retitle() {}

func spareTitled() bool { return false }

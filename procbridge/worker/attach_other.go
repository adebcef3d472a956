//go:build !linux

package worker

import "errors"

var errNotSupported = errors.New("worker: not supported on this system")

func attach() (*Worker, error) { return nil, errNotSupported }

func wake(*uint32) {}

//go:build !linux

package main

import (
	"context"
	"errors"
	"io"
	"os"
)

// isTerminal reports false: the live view needs Linux's terminal ioctls.
func isTerminal(io.Writer) bool { return false }

// termSize returns 120 by 40.
func termSize(io.Writer) (width, height int) { return 120, 40 }

// keyMode fails: the view's keys need Linux's terminal ioctls.
func keyMode(*os.File) (func(), error) {
	return nil, errors.New("keys in the live view need Linux")
}

// readKeys returns at once.
func readKeys(context.Context, *os.File, func([]byte)) {}

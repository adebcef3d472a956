//go:build !linux

package main

import (
	"io"
)

// isTerminal reports false: the live view needs Linux's terminal ioctls.
func isTerminal(io.Writer) bool { return false }

// termSize returns 120 by 40.
func termSize(io.Writer) (width, height int) { return 120, 40 }

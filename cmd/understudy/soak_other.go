//go:build !linux

package main

import (
	"fmt"
	"io"
)

const soakUsage = `Usage: understudy soak [--for D] [--workers N] [--hog N] [--seed S] [--json]

Runs the fault matrix under load and reports. It needs Linux.
`

const soakTreeRole = "__soak-tree"

func soakCmd(_ []string, _ io.Reader, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "understudy soak: needs Linux (pidfds, /proc, cgroups)")
	return exitInvalid
}

func soakTree(_ []string, _, stderr io.Writer) int { return soakCmd(nil, nil, nil, stderr) }

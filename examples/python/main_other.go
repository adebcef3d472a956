//go:build !linux

package main

import (
	"fmt"
	"os"
)

// main says what is missing: the workers' protocol is Linux's.
func main() {
	fmt.Fprintln(os.Stderr, "examples/python: the worker protocol needs Linux")
	os.Exit(1)
}

//go:build !linux

package main

// nonDumpable does nothing: the /proc and ptrace rules it guards against
// are Linux's.
func nonDumpable() error { return nil }

//go:build linux && race

package main

func init() { raceEnabled = true }

//go:build linux

package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestNonDumpable: the supervisor makes itself non-dumpable.
func TestNonDumpable(t *testing.T) {
	require.NoError(t, nonDumpable())
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	require.NoError(t, err)
	assert.Zero(t, v)
}

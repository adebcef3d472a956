//go:build linux

package spec_test

import (
	"testing"

	"github.com/understudy/understudy/internal/testproc"
)

// TestMain runs a helper worker (internal/testproc registers "wait" and
// others) when the test binary is re-executed as one.
func TestMain(m *testing.M) { testproc.Run(m) }

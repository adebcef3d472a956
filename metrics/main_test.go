//go:build linux

package metrics_test

import (
	"testing"

	"github.com/understudy/understudy/internal/testproc"
)

// TestMain runs a helper worker (internal/testproc registers them) when
// the test binary is re-executed as one.
func TestMain(m *testing.M) { testproc.Run(m) }

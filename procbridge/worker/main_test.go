//go:build linux

package worker_test

import (
	"testing"

	"github.com/understudy/understudy/internal/testproc"
)

func TestMain(m *testing.M) { testproc.Run(m) }

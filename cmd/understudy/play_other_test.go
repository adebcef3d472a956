//go:build !jack && linux

package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPlayWithoutJack: a build without the jack tag says how to get one.
func TestPlayWithoutJack(t *testing.T) {
	status, _, errOut := runCLI(t, "", "play", "--duration", "10ms", writeSpec(t, graphSpec))
	assert.Equal(t, exitInvalid, status)
	assert.Contains(t, errOut, "built without JACK: go install -tags jack ./cmd/understudy")
}

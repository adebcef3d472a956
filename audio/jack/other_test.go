//go:build !jack

package jack

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/understudy/understudy/procbridge"
)

// TestStartWithoutLibjack: built without the jack tag, Start says so.
func TestStartWithoutLibjack(t *testing.T) {
	_, err := Start(context.Background(), Config{})
	assert.ErrorIs(t, err, procbridge.ErrNotSupported)
	assert.ErrorContains(t, err, "-tags jack")
}

//go:build !linux

package jack

import (
	"fmt"

	"github.com/understudy/understudy/procbridge"
)

func mapRing(string) ([]byte, error) {
	return nil, fmt.Errorf("jack: %w", procbridge.ErrNotSupported)
}

//go:build !jack

package jack

import (
	"fmt"

	"github.com/understudy/understudy/audio/internal/clock"
	"github.com/understudy/understudy/procbridge"
)

// open fails: this build has no libjack (build with -tags jack).
func open(*Config) (clock.Clock, error) {
	return nil, fmt.Errorf("jack: built without libjack (go build -tags jack): %w", procbridge.ErrNotSupported)
}

//go:build jack

package jack

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/understudy/understudy/internal/jackserver"
)

// deadline bounds every wait of these tests.
const deadline = 20 * time.Second

var servers atomic.Int64

// A server is a JACK server of the test's own (internal/jackserver): jackd
// on the dummy driver, or PipeWire with UNDERSTUDY_JACK_SERVER=pipewire.
type server = jackserver.Server

// startServer starts a server at 48 kHz and the given period, under a
// name from a small fixed set (JACK's registry holds a few servers at
// most, and a name used again takes over its dead server's entry).
func startServer(t testing.TB, frames int) *server {
	t.Helper()
	return jackserver.Start(t, fmt.Sprintf("understudy-jack-test-%d", servers.Add(1)%8), frames)
}

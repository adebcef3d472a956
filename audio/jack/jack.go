// Package jack plays an audio graph through a JACK server (JACK2, or
// PipeWire's JACK library): the engine becomes a JACK client whose sink
// ports are JACK output ports, and the server's process callback, not the
// engine's own timer, starts each cycle.
//
// The callback is C and real-time safe: it bumps a futex word that the
// engine's driver thread waits on (the cycle starts), then plays the block
// of Slack cycles before, waiting for it at most until the end of its
// period, by the server's clock (a callback run late does not wait past
// it), less a margin (an eighth of a period, at least 250 µs); a block not
// there by then is played as silence and reported missing by the engine. Block k thus comes out Slack
// periods after the period that started it, always the same latency, and
// a node that fails over within its slack changes no sample.
//
//	eng, err := jack.Start(ctx, jack.Config{Name: "understudy", Engine: cfg})
//	...
//	rep, err := eng.Run(ctx, math.MaxUint64) // until ctx ends
//	fmt.Println(rep.Xruns, rep.Missing)
//	eng.Close(ctx)
//
// The server's rate and period must be the graph's Rate and BlockSize.
// A change of either while playing, or the server going away, ends Run
// with an error saying which; a client name already taken fails Start.
// A server that goes away without a word (PipeWire's libjack calls no
// shutdown callback when its daemon stops) is noticed by the client: no
// process callback for max(1 s, 20 periods), and the server taking no
// client, twice, a bound apart. A live server, however late, takes one.
//
// The package needs cgo and libjack (Debian: libjack-jackd2-dev) and the
// build tag jack: go build -tags jack. Without the tag Start returns an
// error wrapping procbridge.ErrNotSupported, so that the rest of the module
// builds with neither.
package jack

import (
	"context"

	"github.com/understudy/understudy/audio"
)

// Config describes a JACK client and the engine it plays.
type Config struct {
	// Engine is the engine's configuration. Its Clock is set by Start;
	// RealTime is implied. The graph's Rate and BlockSize must be the
	// server's rate and period.
	Engine audio.Config
	// Name is the client's name on the server, used exactly: a name
	// already taken fails Start. Empty means "understudy".
	Name string
	// Server is the JACK server's name; empty means the default server
	// ($JACK_DEFAULT_SERVER, or "default").
	Server string
	// Connect lists the ports the sink's ports are wired to, in order
	// (Engine.Sink[i] to Connect[i]); empty means the server's physical
	// playback ports, when it has any.
	Connect []string
	// Inputs lists the ports wired to the JACK input ports of the graph's
	// jack_in nodes (node.in0, node.in1, ... in the order of the nodes),
	// in order; empty means the server's physical capture ports, when it
	// has any.
	Inputs []string
	// NoConnect leaves every port unconnected (Connect and Inputs are
	// ignored).
	NoConnect bool
}

// Start opens a JACK client on the server and starts an engine that it
// drives, as audio.Start does (the engine's Close closes the client). The
// graph's jack_in nodes get the client's input ports.
// Errors name the field at fault: no server (Server), a name already taken
// (Name), a rate or period other than the graph's (Engine.Graph.Rate,
// Engine.Graph.BlockSize), a port to connect to that is not there
// (Connect[i]).
func Start(ctx context.Context, cfg Config) (*audio.Engine, error) {
	if cfg.Name == "" {
		cfg.Name = "understudy"
	}
	c, err := open(&cfg)
	if err != nil {
		return nil, err
	}
	cfg.Engine.Clock = c
	cfg.Engine.RealTime = true
	e, err := audio.Start(ctx, cfg.Engine)
	if err != nil {
		c.Close()
		return nil, err
	}
	return e, nil
}

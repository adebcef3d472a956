package cluster

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// window is the flow-control window of the gRPC streams between nodes
// and their supervising programs. Set, it turns off gRPC's estimate of
// the link's bandwidth-delay product, which answers each message received
// with a ping and its acknowledgement: twice the packets and the
// wake-ups of a lease renewal, for messages that are all small.
const window = 1 << 20

// newSystem makes an actor system reachable over protoactor's remote at
// listen (host:port; port 0 picks one), its logs discarded.
func newSystem(listen string) (*actor.ActorSystem, *remote.Remote, error) {
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, nil, fmt.Errorf("cluster: listen address %q: bad port", listen)
	}
	if port == 0 {
		// remote listens on the port it is given and advertises what it
		// asked for, so pick the port here.
		l, err := net.Listen("tcp", listen)
		if err != nil {
			return nil, nil, fmt.Errorf("cluster: listen on %s: %w", listen, err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	discard := func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(discard),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
		actor.WithDeadLetterRequestLogging(false),
	)
	r := remote.NewRemote(system, remote.Configure(host, port,
		remote.WithDialOptions(
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(window), grpc.WithInitialConnWindowSize(window)),
		remote.WithServerOptions(grpc.InitialWindowSize(window), grpc.InitialConnWindowSize(window)),
	))
	if err := startRemote(r); err != nil {
		system.Shutdown()
		return nil, nil, fmt.Errorf("cluster: listen on %s: %w", listen, err)
	}
	return system, r, nil
}

// startRemote starts r, turning its panic on a port in use into an error.
func startRemote(r *remote.Remote) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	r.Start()
	return nil
}

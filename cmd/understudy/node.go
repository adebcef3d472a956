package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/understudy/understudy/internal/cluster"
	_ "github.com/understudy/understudy/internal/cluster/subtree" // the subtree worker, for remote subtrees
)

const nodeUsage = `Usage: understudy node [flags]

Run a node agent: it listens for supervising programs (understudy run, or
a program of supervision.Start with Options.Cluster) and runs the copies
of their remote children (a child with nodes: [...]) on this machine,
each under a lease it renews with the program. A copy whose lease cannot
be renewed is killed before the lease ends, by a lease keeper process
beside the agent (so even while the agent is stopped). SIGINT or SIGTERM
kills the copies and ends the agent.

The agent runs whatever process spec reaches its port, with no
authentication or encryption: listen on loopback, or on a network only
your supervising programs can reach.

Flags:
  --name NAME       the node's name, as supervisors list it (required)
  --listen ADDR     host:port to listen on (default 127.0.0.1:7400)

Example (three nodes on one machine):
  understudy node --name a --listen 127.0.0.1:7401 &
  understudy node --name b --listen 127.0.0.1:7402 &
  understudy node --name c --listen 127.0.0.1:7403 &
`

func nodeCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	name := fs.String("name", "", "")
	listen := fs.String("listen", "127.0.0.1:7400", "")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, nodeUsage)
		return exitOK
	}
	switch {
	case err != nil:
	case fs.NArg() > 0:
		err = fmt.Errorf("no arguments, only flags: %q", fs.Args())
	case *name == "":
		err = errors.New("--name: a node needs a name")
	}
	if err != nil {
		fmt.Fprintf(stderr, "understudy node: %v\n\n%s", err, nodeUsage)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	err = cluster.RunNode(ctx, cluster.NodeConfig{Name: *name, Listen: *listen, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "understudy node: %v\n", err)
		return exitInvalid
	}
	return exitOK
}

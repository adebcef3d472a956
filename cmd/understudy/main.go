// Command understudy runs a supervision tree declared in a spec file: OS
// processes supervised the way Erlang/OTP supervises its processes, with
// restart strategies, intensity limits, backoff and ordered shutdown. It
// also checks spec files and renders their audio graphs offline.
//
//	go install github.com/understudy/understudy/cmd/understudy@latest
//
//	understudy check tree.yaml    # validate, check the host, print the tree
//	understudy run tree.yaml      # run it; Ctrl-C stops it in order
//	understudy ctl status         # from another terminal: see it, act on it
//	understudy render tree.yaml   # render the audio graph to its WAV file
//	understudy play tree.yaml     # play it through JACK until Ctrl-C
//	understudy soak --for 10m     # run the fault matrix under load, report
//
// The spec format is in docs/spec-reference.md; docs/guide-declarative.md
// walks through a declared tree.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/understudy/understudy/internal/cluster"
	"github.com/understudy/understudy/procbridge/worker"
)

// Exit statuses.
const (
	exitOK       = 0 // everything stopped cleanly; the file is valid; the render is glitch-free
	exitInvalid  = 1 // the file is invalid, something it names is missing, or the tree did not start
	exitUsage    = 2 // the command line is wrong
	exitFailed   = 3 // the tree failed (its root gave up), or the render has glitches
	exitUnclean  = 4 // stopped on a signal, but some child did not stop within its policy
	exitKilledAt = 5 // a second signal: every process was killed at once
)

func main() {
	worker.Main()        // first: when this process was started as a worker, run it and exit
	cluster.KeeperMain() // likewise, as a node agent's lease keeper
	os.Exit(cli(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `understudy supervises OS processes the way Erlang/OTP supervises its
processes, from a spec file (YAML; see docs/spec-reference.md).

Usage:
  understudy check  [flags] FILE   validate FILE, check the host, print the tree
  understudy run    [flags] FILE   run the tree until SIGINT or SIGTERM
  understudy ctl    [flags] CMD    act on a running tree: status, restart, reload...
  understudy render [flags] FILE   render FILE's audio graph to its WAV file
  understudy play   [flags] FILE   play FILE's audio graph through JACK until SIGINT
  understudy soak   [flags]        run the fault matrix under load and report
  understudy node   [flags]        run a node agent for remote children
  understudy help   [COMMAND]      show a command's flags and examples
  understudy version               print the build's version

Examples:
  understudy check examples/declarative/tree.yaml
  understudy run examples/declarative/tree.yaml
  understudy run --log-format json --metrics 127.0.0.1:9464 tree.yaml
  understudy ctl restart jobs/fetch
  understudy render graph.yaml

FILE may be - for standard input (check and render).
`

// command is one subcommand.
type command struct {
	name  string
	usage string
	run   func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"check", checkUsage, checkCmd},
		{"run", runUsage, runCmd},
		{"ctl", ctlUsage, ctlCmd},
		{"render", renderUsage, renderCmd},
		{"play", playUsage, playCmd},
		{"soak", soakUsage, soakCmd},
		{"node", nodeUsage, nodeCmd},
	}
}

// cli runs the command line args and returns the exit status.
func cli(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "help":
		if len(args) == 1 {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		for _, c := range commands() {
			if c.name == args[1] {
				fmt.Fprint(stdout, c.usage)
				return exitOK
			}
		}
		fmt.Fprintf(stderr, "understudy: no command %q\n\n%s", args[1], usage)
		return exitUsage
	case soakTreeRole: // the soak's supervising process, not for users
		return soakTree(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, version())
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "understudy: no command %q\n\n%s", args[0], usage)
	return exitUsage
}

func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "understudy (unknown version)"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && (v == "" || v == "(devel)") {
			v = s.Value
		}
	}
	return fmt.Sprintf("understudy %s (%s)", v, bi.GoVersion)
}

// parseArgs parses a command's flags, which may come before or after its
// one FILE argument, and returns FILE. On a usage error or --help it
// returns the exit status to end with.
func parseArgs(fs *flag.FlagSet, help string, args []string, stdout, stderr io.Writer) (file string, status int, done bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var files []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, help)
			return "", exitOK, true
		}
		if err != nil {
			fmt.Fprintf(stderr, "understudy %s: %v\n\n%s", fs.Name(), err, help)
			return "", exitUsage, true
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		files = append(files, args[0])
		args = args[1:]
	}
	switch len(files) {
	case 0:
		fmt.Fprintf(stderr, "understudy %s: no FILE\n\n%s", fs.Name(), help)
		return "", exitUsage, true
	case 1:
		return files[0], 0, false
	}
	fmt.Fprintf(stderr, "understudy %s: one FILE, not %d (%s)\n\n%s", fs.Name(), len(files), strings.Join(files, " "), help)
	return "", exitUsage, true
}

// printErrors writes each of the joined errors of err on its own line.
func printErrors(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, line)
	}
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/understudy/understudy/audio"
	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/spec"
	"github.com/understudy/understudy/supervision"
)

const checkUsage = `Usage: understudy check [flags] FILE

Validates the spec file FILE and reports every problem in it at once, each as
file:line:column, with a hint where one helps. Then checks what the tree needs
from this host before anything starts: the executables (looked up in PATH
when they have no slash), the working directories, the directories of output
files. If the file declares an audio graph, its kinds, parameters and ports
are checked too. Prints the tree when all is well, and the containment this
host gives: which early death notices (eBPF for every worker where BPF
programs may be loaded, the robust futex for workers with the SDK, the
pidfd), whether a worker's descendants end with it, and whether they all
end when understudy itself is killed; which limits (memory_max, cpu_max,
pids_max) this host can apply, and how; and how a worker's death is seen:
through a pidfd from its fork, a pidfd opened right after it (where the
fork refuses CLONE_PIDFD, as under qemu-user), or a pipe.
UNDERSTUDY_EBPF=off keeps the eBPF watch off. The early notice is kept
prompt (the supervisor wakes every 100 ms) while a hot-standby group runs;
UNDERSTUDY_EBPF=prompt keeps it so for every worker the eBPF watch watches.

Flags:
  -q, --quiet   print problems only, not the tree

Examples:
  understudy check tree.yaml
  understudy check tree.yaml && understudy run tree.yaml
  generate-spec | understudy check -

Exit status: 0 valid, 1 invalid or something missing, 2 usage.
`

func checkCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	quiet := fs.Bool("quiet", false, "")
	fs.BoolVar(quiet, "q", false, "")
	file, status, done := parseArgs(fs, checkUsage, args, stdout, stderr)
	if done {
		return status
	}
	f, err := load(file, stdin)
	if err != nil {
		printErrors(stderr, err)
		return exitInvalid
	}
	var problems []error
	if err := f.Preflight(); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		printErrors(stderr, errors.Join(problems...))
		return exitInvalid
	}
	if f.Tree != nil {
		warnStateless(stderr, f.Path, f.Tree, "")
	}
	if !*quiet {
		fmt.Fprintf(stdout, "%s: valid\n", f.Path)
		printFile(stdout, f)
		fmt.Fprintln(stdout, noticesLine())
		fmt.Fprintln(stdout, containmentLine())
		fmt.Fprintln(stdout, limitsLine())
		fmt.Fprintln(stdout, watchLine())
	}
	return exitOK
}

// warnStateless warns of every hot-standby child of s without state: a
// spare that takes over from it starts from zero.
func warnStateless(w io.Writer, file string, s *supervision.Spec, path string) {
	for i := range s.Children {
		c := &s.Children[i]
		key := fmt.Sprintf("%schildren[%d]", path, i)
		if s.Strategy == supervision.SimpleOneForOne {
			key = path + "template"
		}
		if c.Supervisor != nil {
			warnStateless(w, file, c.Supervisor, key+".supervisor.")
		}
		if c.Standby > 0 && c.Process != nil && c.Process.StateSize == 0 {
			fmt.Fprintf(w, "%s: %s: warning: standby %d without state_size: a spare that takes over starts from zero state (set state_size to the state the worker commits)\n",
				file, key, c.Standby)
		}
	}
}

// load loads FILE, or standard input for "-".
func load(file string, stdin io.Reader) (*spec.File, error) {
	if file != "-" {
		return spec.Load(file)
	}
	// Parse refuses a file too large; the bound here only keeps a runaway
	// pipe from filling the memory first.
	data, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("understudy: read standard input: %w", err)
	}
	return spec.Parse("<stdin>", data)
}

// printFile prints the tree and the audio graph of f.
func printFile(w io.Writer, f *spec.File) {
	if f.Tree != nil {
		root := f.Name
		if root == "" {
			root = "root"
		}
		fmt.Fprintf(w, "%s  %s\n", root, describeSupervisor(f.Tree))
		printChildren(w, f, f.Tree, nil, "")
	}
	if a := f.Audio; a != nil {
		c, g := &a.Config, &a.Config.Graph
		slack := c.Slack
		switch slack {
		case audio.NoSlack:
			slack = 0
		case 0:
			slack = 1
		}
		spares := max(c.Spares, 1)
		fmt.Fprintf(w, "audio  %d Hz, %d-frame blocks, slack %d, %d spare%s per node, %d node%s, %d edge%s, %s",
			g.Rate, g.BlockSize, slack, spares, plural(spares), len(g.Nodes), plural(len(g.Nodes)), len(g.Edges), plural(len(g.Edges)), a.Duration)
		if c.WAV != "" {
			fmt.Fprintf(w, " -> %s", c.WAV)
		}
		fmt.Fprintln(w)
		width := 0
		for _, n := range g.Nodes {
			width = max(width, len(n.Name))
		}
		for i, n := range g.Nodes {
			branch := "├── "
			if i == len(g.Nodes)-1 {
				branch = "└── "
			}
			proc := ""
			if n.Process != "" {
				proc = "  [process " + n.Process + "]"
			}
			fmt.Fprintf(w, "%s%-*s  %s%s%s\n", branch, width, n.Name, n.Kind, formatParams(n.Params), proc)
		}
	}
}

func formatParams(p audio.Params) string {
	if len(p) == 0 {
		return ""
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%g", k, p[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// printChildren prints the children of s under indent; names is s's path
// of child names, for its instances.
func printChildren(w io.Writer, f *spec.File, s *supervision.Spec, names []string, indent string) {
	width := 0
	for _, c := range s.Children {
		width = max(width, len(c.Name))
	}
	for i := range s.Children {
		c := &s.Children[i]
		branch, next := "├── ", "│   "
		if i == len(s.Children)-1 {
			branch, next = "└── ", "    "
		}
		label := c.Name
		if s.Strategy == supervision.SimpleOneForOne {
			label += " (template)"
		}
		line := fmt.Sprintf("%s%s%-*s  %s", indent, branch, width, label, describeChild(c))
		if s.Strategy == supervision.SimpleOneForOne {
			n := 0
			for _, in := range f.Instances {
				if slices.Equal(in.Supervisor, names) {
					n++
				}
			}
			line += fmt.Sprintf(" · %d instance%s at start", n, plural(n))
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		if c.Supervisor != nil {
			printChildren(w, f, c.Supervisor, append(slices.Clone(names), c.Name), indent+next)
		}
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func describeSupervisor(s *supervision.Spec) string {
	strategy := s.Strategy
	if strategy == "" {
		strategy = supervision.OneForOne
	}
	parts := []string{string(strategy), describeIntensity(s.Intensity)}
	if a := s.AutoShutdown; a != "" && a != supervision.Never {
		parts = append(parts, "auto_shutdown "+string(a))
	}
	return "supervisor (" + strings.Join(parts, ", ") + ")"
}

func describeIntensity(in supervision.Intensity) string {
	period := in.Period
	if period == 0 {
		period = 5 * time.Second
	}
	switch {
	case in.MaxRestarts == supervision.NoRestarts:
		return "no restarts"
	case in.MaxRestarts == 0:
		return fmt.Sprintf("at most 1 restart in %v", period)
	}
	return fmt.Sprintf("at most %d restart%s in %v", in.MaxRestarts, plural(in.MaxRestarts), period)
}

// describeChild says what a child runs and how, leaving out defaults.
func describeChild(c *supervision.ChildSpec) string {
	var parts []string
	if c.Supervisor != nil {
		parts = append(parts, describeSupervisor(c.Supervisor))
	}
	if p := c.Process; p != nil {
		if p.Worker != "" {
			parts = append(parts, "worker "+p.Worker+joinArgs(p.Args))
		} else {
			parts = append(parts, shellQuote(p.Path)+joinArgs(p.Args))
		}
		if n := c.Standby; n > 0 {
			parts = append(parts, fmt.Sprintf("standby %d", n))
		}
		if hb := p.Heartbeat; hb.Interval > 0 {
			parts = append(parts, fmt.Sprintf("heartbeat %v/%v", hb.Interval, hb.Timeout))
		}
		if p.SDK {
			parts = append(parts, "sdk")
		}
		if p.Notify {
			parts = append(parts, "sd_notify")
		}
		if p.NotificationFD != 0 {
			parts = append(parts, fmt.Sprintf("notification fd %d", p.NotificationFD))
		}
		if p.ReadyTimeout > 0 {
			parts = append(parts, fmt.Sprintf("ready within %v", p.ReadyTimeout))
		}
		if p.StateSize > 0 {
			parts = append(parts, fmt.Sprintf("state %d B", p.StateSize))
		}
		if p.Dir != "" {
			parts = append(parts, "in "+p.Dir)
		}
		if n := declaredEnv(p.Env); n > 0 {
			parts = append(parts, fmt.Sprintf("%d env var%s", n, plural(n)))
		}
		for _, o := range []struct {
			name string
			out  procbridge.Output
		}{{"stdout", p.Stdout}, {"stderr", p.Stderr}} {
			switch {
			case o.out == procbridge.Output{}: // the terminal's, the default
			case o.out == procbridge.Discard:
				parts = append(parts, o.name+" discard")
			case o.out == procbridge.Lines:
				parts = append(parts, o.name+" lines")
			default:
				if path, ok := hooks.OutputWriter(o.out).(fmt.Stringer); ok { // an output file (package spec)
					parts = append(parts, o.name+" > "+path.String())
				}
			}
		}
	}
	if r := c.Restart; r != "" && r != supervision.Permanent {
		parts = append(parts, string(r))
	}
	switch sd := c.Shutdown; {
	case sd == supervision.BrutalKill:
		parts = append(parts, "shutdown brutal_kill")
	case sd == supervision.Infinity:
		parts = append(parts, "shutdown infinity")
	case sd > 0:
		parts = append(parts, fmt.Sprintf("shutdown %v", sd))
	}
	if c.Significant {
		parts = append(parts, "significant")
	}
	if b := c.Backoff; b.Initial < 0 {
		parts = append(parts, "no backoff")
	} else if b != (supervision.Backoff{}) {
		parts = append(parts, "backoff "+describeBackoff(b))
	}
	return strings.Join(parts, " · ")
}

func describeBackoff(b supervision.Backoff) string {
	initial, maxWait, mult := b.Initial, b.Max, b.Multiplier
	if initial == 0 {
		initial = 100 * time.Millisecond
	}
	if maxWait == 0 {
		maxWait = 10 * time.Second
	}
	if mult == 0 {
		mult = 2
	}
	s := fmt.Sprintf("%v..%v ×%g", initial, maxWait, mult)
	if b.Jitter > 0 {
		s += fmt.Sprintf(" ±%g%%", b.Jitter*100)
	}
	return s
}

// declaredEnv counts the variables of env that the runner's own
// environment does not hold as they are.
func declaredEnv(env []string) int {
	own := map[string]bool{}
	for _, kv := range os.Environ() {
		own[kv] = true
	}
	n := 0
	for _, kv := range env {
		if !own[kv] {
			n++
		}
	}
	return n
}

func joinArgs(args []string) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(shellQuote(a))
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=+,@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

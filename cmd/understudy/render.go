package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/understudy/understudy/audio"
	"github.com/understudy/understudy/spec"
)

const renderUsage = `Usage: understudy render [flags] FILE

Renders the audio graph FILE declares (its audio: section) offline to its WAV
file (32-bit float, one channel per output port): each node runs in its own
worker process with hot-standby spares, as it would live. The same graph is
also rendered in this process, without processes or faults, as the
reference, and the glitch report compares the two: whether the render is
bit-identical, whether the test signal's frame counter runs on unbroken, the
latency between them, and the engine's account of late or missing blocks
and failovers.

The graph is checked first: kinds, parameters, ports, cycles, every problem
at once with its file:line:column.

Flags:
  --out PATH              write the WAV here instead of the file's output path
  --duration D            render D (such as 500ms or 10s) instead of the file's duration
  --fault NODE@BLOCK[:KIND[:POINT]]
                          inject a fault into NODE's primary process at BLOCK
                          (counting from 1); KIND is kill (the default), hang,
                          overrun or segv; POINT is before-compute (the default),
                          after-output, after-commit or after-publish. Repeatable.
  --reference             render the reference only, in this process

Examples:
  understudy render graph.yaml
  understudy render --fault osc@100 --fault mix@250:hang graph.yaml
  understudy render --out /tmp/take.wav --duration 10s graph.yaml

Exit status: 0 rendered (and glitch-free), 1 invalid file or graph, 2 usage,
3 the render failed or has glitches.
`

// faultFlags collects --fault values.
type faultFlags []audio.Fault

func (f *faultFlags) String() string { return fmt.Sprint(*f) }

func (f *faultFlags) Set(s string) error {
	fault, err := parseFault(s)
	if err != nil {
		return err
	}
	*f = append(*f, fault)
	return nil
}

// parseFault parses NODE@BLOCK[:KIND[:POINT]].
func parseFault(s string) (audio.Fault, error) {
	node, rest, ok := strings.Cut(s, "@")
	if !ok || node == "" {
		return audio.Fault{}, fmt.Errorf("%q: want NODE@BLOCK[:KIND[:POINT]], such as osc@100:kill", s)
	}
	parts := strings.Split(rest, ":")
	block, err := strconv.ParseUint(parts[0], 10, 64)
	if err != nil || block < 1 {
		return audio.Fault{}, fmt.Errorf("%q: block %q: want a whole number from 1", s, parts[0])
	}
	f := audio.Fault{Node: node, Cycle: block, Kind: "kill"}
	if len(parts) > 1 {
		if !slices.Contains([]string{"kill", "hang", "overrun", "segv"}, parts[1]) {
			return audio.Fault{}, fmt.Errorf("%q: fault %q: want kill, hang, overrun or segv", s, parts[1])
		}
		f.Kind = parts[1]
	}
	if len(parts) > 2 {
		if !slices.Contains([]string{"before-compute", "after-output", "after-commit", "after-publish"}, parts[2]) {
			return audio.Fault{}, fmt.Errorf("%q: point %q: want before-compute, after-output, after-commit or after-publish", s, parts[2])
		}
		f.Point = parts[2]
	}
	if len(parts) > 3 {
		return audio.Fault{}, fmt.Errorf("%q: want NODE@BLOCK[:KIND[:POINT]]", s)
	}
	return f, nil
}

func renderCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	out := fs.String("out", "", "")
	dur := fs.Duration("duration", 0, "")
	reference := fs.Bool("reference", false, "")
	var faults faultFlags
	fs.Var(&faults, "fault", "")
	file, status, done := parseArgs(fs, renderUsage, args, stdout, stderr)
	if done {
		return status
	}
	if *dur < 0 {
		fmt.Fprintf(stderr, "understudy render: --duration %v: must be positive\n", *dur)
		return exitUsage
	}
	if *reference && len(faults) > 0 {
		fmt.Fprintln(stderr, "understudy render: --fault needs the engine: leave out --reference")
		return exitUsage
	}
	f, status := loadAudio(file, stdin, stderr)
	if f == nil {
		return status
	}
	g := &f.Audio.Config.Graph
	job := renderJob{Config: f.Audio.Config, Blocks: blocksFor(f.Audio.Duration, g.Rate, g.BlockSize)}
	if *out != "" {
		job.WAV = *out
	}
	if *dur > 0 {
		job.Blocks = blocksFor(*dur, job.Graph.Rate, job.Graph.BlockSize)
	}
	job.Faults = faults
	if job.WAV == "" {
		fmt.Fprintln(stderr, &spec.Error{File: f.Path, Path: "audio.output", Msg: "no output file to render to", Hint: "add output: out.wav, or pass --out PATH"})
		return exitInvalid
	}
	var e engine = supervisedEngine{}
	if *reference {
		e = nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return render(ctx, job, e, stdout, stderr)
}

// renderJob is an engine's validated Config (Sink: one WAV channel each)
// and how many blocks to render.
type renderJob struct {
	audio.Config
	Blocks int
}

// engine renders a graph offline to job.WAV and returns the samples it
// wrote and its own account of the render. supervisedEngine is the audio
// package's; the seam keeps the command's report independent of it.
type engine interface {
	Name() string
	Render(ctx context.Context, job renderJob) (samples []float32, account string, glitchFree bool, err error)
}

// supervisedEngine renders with audio.Engine: each node a worker process
// of this program (the audio package registers its worker) with hot-standby spares, a child of
// the engine's supervision tree (its default policy: a node process lost
// with no spare ready is restarted cold, and the render says so).
type supervisedEngine struct{}

func (supervisedEngine) Name() string {
	return "supervised (audio.Engine: a process per node, hot-standby spares)"
}

func (supervisedEngine) Render(ctx context.Context, job renderJob) ([]float32, string, bool, error) {
	e, err := audio.Start(ctx, job.Config)
	if err != nil {
		return nil, "", false, err
	}
	rep, err := e.Run(ctx, uint64(job.Blocks))
	if cerr := e.Close(context.Background()); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, rep.String(), false, err
	}
	samples, err := readWAV(job.WAV, len(job.Sink))
	return samples, rep.String(), rep.GlitchFree, err
}

// render renders job with e (nil: the reference alone, written to the
// WAV), and prints the report.
func render(ctx context.Context, job renderJob, e engine, stdout, stderr io.Writer) int {
	began := time.Now()
	ref, err := audio.Render(&job.Graph, job.Sink, job.Blocks)
	if err != nil {
		fmt.Fprintf(stderr, "understudy render: reference render: %v\n", err)
		return exitFailed
	}
	channels := make([]string, len(job.Sink))
	for i, p := range job.Sink {
		channels[i] = p.Node + ":" + strconv.Itoa(p.Port)
	}
	frames := job.Blocks * job.Graph.BlockSize
	length := time.Duration(int64(frames) * int64(time.Second) / int64(job.Graph.Rate)).Round(time.Microsecond)
	if e == nil {
		if err := writeWAV(job.WAV, job.Graph.Rate, len(job.Sink), ref); err != nil {
			fmt.Fprintf(stderr, "understudy render: %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "rendered %d frames (%v at %d Hz) of %s to %s in %v\n", frames, length, job.Graph.Rate,
			strings.Join(channels, ", "), job.WAV, time.Since(began).Round(time.Millisecond))
		fmt.Fprintln(stdout, "engine: the in-process reference (no processes, no faults); glitch check: not run")
		return exitOK
	}
	got, account, engineOK, err := e.Render(ctx, job)
	if account != "" {
		fmt.Fprintf(stdout, "engine: %s\n%s", e.Name(), indent(account))
	}
	if err != nil {
		fmt.Fprintf(stderr, "understudy render: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "rendered %d frames (%v at %d Hz) of %s to %s in %v\n", frames, length, job.Graph.Rate,
		strings.Join(channels, ", "), job.WAV, time.Since(began).Round(time.Millisecond))
	opts := audio.CompareOptions{NoCounter: true}
	if c, ok := counterChannel(job); ok {
		opts = audio.CompareOptions{CounterChannel: c}
	}
	rep, err := audio.Compare(ref, got, len(job.Sink), opts)
	if err != nil {
		fmt.Fprintf(stderr, "understudy render: compare with the reference: %v\n", err)
		return exitFailed
	}
	fmt.Fprint(stdout, "glitch report (against the in-process reference):\n"+indent(rep.String()))
	if !rep.GlitchFree || !engineOK {
		fmt.Fprintln(stdout, "verdict: GLITCHES")
		return exitFailed
	}
	fmt.Fprintln(stdout, "verdict: glitch-free")
	return exitOK
}

func indent(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "")
}

// counterChannel returns the WAV channel carrying a test signal's frame
// counter (its output port 0), if one is written.
func counterChannel(job renderJob) (int, bool) {
	kinds := map[string]string{}
	for _, n := range job.Graph.Nodes {
		kinds[n.Name] = n.Kind
	}
	for i, p := range job.Sink {
		if kinds[p.Node] == "testsignal" && p.Port == 0 {
			return i, true
		}
	}
	return 0, false
}

// blocksFor returns the blocks that cover d.
func blocksFor(d time.Duration, rate, block int) int {
	frames := (int64(d)*int64(rate) + int64(time.Second) - 1) / int64(time.Second)
	return int((frames + int64(block) - 1) / int64(block))
}

func readWAV(path string, channels int) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, ch, samples, err := audio.ReadWAV(f)
	if err != nil {
		return nil, fmt.Errorf("read back %s: %w", path, err)
	}
	if ch != channels {
		return nil, fmt.Errorf("read back %s: %d channels, want %d", path, ch, channels)
	}
	return samples, nil
}

func writeWAV(path string, rate, channels int, samples []float32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := audio.WriteWAV(f, rate, channels, samples); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadAudio loads a spec file that must declare an audio graph. It prints
// what is wrong and returns nil and the exit status when it cannot.
func loadAudio(file string, stdin io.Reader, stderr io.Writer) (*spec.File, int) {
	f, err := load(file, stdin)
	if err != nil {
		printErrors(stderr, err)
		return nil, exitInvalid
	}
	if f.Audio == nil {
		fmt.Fprintf(stderr, "%s: no audio graph: declare one under audio: (see docs/spec-reference.md)\n", f.Path)
		return nil, exitInvalid
	}
	return f, exitOK
}

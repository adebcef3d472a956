package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/understudy/understudy/audio"
	"github.com/understudy/understudy/audio/jack"
	"github.com/understudy/understudy/procbridge"
)

const playUsage = `Usage: understudy play [flags] FILE

Plays the audio graph FILE declares (its audio: section) through a JACK
server (jackd, or PipeWire's JACK) until SIGINT or SIGTERM: the engine is a
JACK client, each output port of the graph's output a JACK output port, and
the server's period starts each block. Each node runs in its own worker
process with hot-standby spares, as in render. On a terminal the live view
shows each node's compute time, its late and missing blocks and failovers,
and the server's xruns; at the end the engine's report is printed.

The server's rate and period must be the graph's rate and block_size
(jackd -r 48000 -p 128 for the defaults). Needs a build with JACK:
go install -tags jack ./cmd/understudy (cgo, libjack-jackd2-dev).

Flags:
  --connect PORT,...      wire the output ports to these ports, in order
                          (default: the server's physical playback ports,
                          when it has any); none leaves them unconnected
  --inputs PORT,...       wire these ports to the jack_in nodes' input ports
                          (NODE.in0, ...), in order (default: the server's
                          physical capture ports)
  --server NAME           the JACK server (default: $JACK_DEFAULT_SERVER)
  --name NAME             the client's name (default: understudy)
  --duration D            stop after D (such as 10s) instead of on a signal
  --fault NODE@BLOCK[:KIND[:POINT]]
                          inject a fault, as render does. Repeatable.
  --priority N            run the node loops and the driver in SCHED_FIFO
                          from N (0, the default: the file's, or just below
                          the JACK client's own real-time thread)
  --out PATH              also write what is played to this WAV file

Examples:
  jackd -d dummy -r 48000 -p 128 &
  understudy play graph.yaml
  understudy play --connect system:playback_1,system:playback_2 graph.yaml
  understudy play --fault osc@1000 --fault mix@2000:hang graph.yaml

Exit status: 0 played until stopped (or for --duration), 1 invalid file or
graph, or no JACK server, 2 usage, 3 the engine failed while playing.
`

func playCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("play", flag.ContinueOnError)
	connect := fs.String("connect", "", "")
	inputs := fs.String("inputs", "", "")
	server := fs.String("server", "", "")
	name := fs.String("name", "", "")
	dur := fs.Duration("duration", 0, "")
	prio := fs.Int("priority", 0, "")
	out := fs.String("out", "", "")
	var faults faultFlags
	fs.Var(&faults, "fault", "")
	file, status, done := parseArgs(fs, playUsage, args, stdout, stderr)
	if done {
		return status
	}
	if *dur < 0 {
		fmt.Fprintf(stderr, "understudy play: --duration %v: must be positive\n", *dur)
		return exitUsage
	}
	f, status := loadAudio(file, stdin, stderr)
	if f == nil {
		return status
	}
	cfg := f.Audio.Config
	cfg.WAV, cfg.Faults, cfg.RealTime = *out, faults, true
	if *prio > 0 {
		cfg.Priority = *prio
	}
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	jc := jack.Config{Engine: cfg, Name: *name, Server: *server}
	if *inputs != "" {
		jc.Inputs = strings.Split(*inputs, ",")
	}
	switch *connect {
	case "":
	case "none":
		jc.NoConnect = true
	default:
		jc.Connect = strings.Split(*connect, ",")
	}
	blocks := uint64(math.MaxUint64)
	if *dur > 0 {
		blocks = uint64(blocksFor(*dur, cfg.Graph.Rate, cfg.Graph.BlockSize))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := jack.Start(ctx, jc)
	if err != nil {
		if errors.Is(err, procbridge.ErrNotSupported) {
			fmt.Fprintf(stderr, "understudy play: this understudy was built without JACK: go install -tags jack ./cmd/understudy (%v)\n", err)
			return exitInvalid
		}
		printErrors(stderr, err)
		return exitInvalid
	}
	fmt.Fprint(stdout, e.Preflight())
	fmt.Fprintf(stdout, "playing %s through JACK: %d Hz, %d frames a block, %d output ports; Ctrl-C stops\n",
		f.Path, cfg.Graph.Rate, cfg.Graph.BlockSize, len(cfg.Sink))

	v := &playView{out: stdout, reg: reg, live: isTerminal(stdout), began: time.Now()}
	vctx, vstop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { v.run(vctx, e.Events()) })
	rep, err := e.Run(ctx, blocks)
	cerr := e.Close(context.Background())
	vstop()
	wg.Wait()
	fmt.Fprintln(stdout, rep.String())
	switch {
	case err != nil && ctx.Err() == nil:
		fmt.Fprintf(stderr, "understudy play: %v\n", err)
		return exitFailed
	case cerr != nil:
		fmt.Fprintf(stderr, "understudy play: %v\n", cerr)
		return exitFailed
	}
	return exitOK
}

// playView is play's live view: every node's compute time over the last
// refresh, its late and missing blocks and failovers so far, and the
// latest events, redrawn in place on a terminal (nothing otherwise: the
// report at the end says it all).
type playView struct {
	out    io.Writer
	reg    *prometheus.Registry
	live   bool
	began  time.Time
	events []string
	prev   map[string][2]float64 // per node, the compute histogram's count and sum at the last draw
}

func (v *playView) run(ctx context.Context, events <-chan audio.Event) {
	tick := time.NewTicker(viewRefresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			v.events = append(v.events, fmt.Sprint(ev))
			if len(v.events) > viewEvents {
				v.events = v.events[len(v.events)-viewEvents:]
			}
		case <-tick.C:
			if v.live {
				v.draw()
			}
		}
	}
}

// nodeRow is one node's line in the view.
type nodeRow struct {
	late, failovers float64
	missing         float64
	count, sum      float64
}

func (v *playView) draw() {
	mfs, err := v.reg.Gather()
	if err != nil {
		return
	}
	rows := map[string]*nodeRow{}
	row := func(m *dto.Metric) *nodeRow {
		for _, l := range m.GetLabel() {
			if l.GetName() == "node" {
				r := rows[l.GetValue()]
				if r == nil {
					r = &nodeRow{}
					rows[l.GetValue()] = r
				}
				return r
			}
		}
		return &nodeRow{}
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "understudy_audio_node_late_blocks_total":
				row(m).late += m.GetCounter().GetValue()
			case "understudy_audio_node_missing_blocks_total":
				row(m).missing += m.GetCounter().GetValue()
			case "understudy_audio_node_failovers_total":
				row(m).failovers += m.GetCounter().GetValue()
			case "understudy_audio_node_compute_seconds":
				r := row(m)
				r.count, r.sum = float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()
			}
		}
	}
	if v.prev == nil {
		v.prev = map[string][2]float64{}
	}
	var b strings.Builder
	b.WriteString("\x1b[H")
	fmt.Fprintf(&b, "understudy play: %v\x1b[K\n\x1b[K\n", time.Since(v.began).Round(time.Second))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\tcompute (mean, last 250ms)\tlate\tmissing\tfailovers\t\x1b[K")
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range rows {
			if !yield(k) {
				return
			}
		}
	}) {
		r := rows[name]
		p := v.prev[name]
		mean := "-"
		if n := r.count - p[0]; n > 0 {
			mean = time.Duration((r.sum - p[1]) / n * float64(time.Second)).Round(time.Microsecond).String()
		}
		v.prev[name] = [2]float64{r.count, r.sum}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.0f\t\x1b[K\n", name, mean, r.late, r.missing, r.failovers)
	}
	tw.Flush()
	b.WriteString("\x1b[K\n")
	for _, ev := range v.events {
		fmt.Fprintf(&b, "%s\x1b[K\n", ev)
	}
	b.WriteString("\x1b[J")
	io.WriteString(v.out, b.String())
}

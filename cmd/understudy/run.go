package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/understudy/understudy/metrics"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/spec"
	"github.com/understudy/understudy/supervision"
)

const runUsage = `Usage: understudy run [flags] FILE

Runs the supervision tree FILE declares: starts its children in order, each
ready before the next, and supervises them (restarts, backoff, intensity,
escalation) until it ends on its own or a signal stops it.

SIGINT or SIGTERM stops the tree: each supervisor stops its children in
reverse start order, each within its shutdown policy (SIGTERM, the grace
period, SIGKILL). A second SIGINT or SIGTERM during the stop kills every
process at once, and says so. SIGHUP closes every output file, and the next
line opens its path again (for logrotate; an output file with max_size
rotates itself).

On a terminal it shows the tree live: state, pid, restarts, last exit and
heartbeat age of every child, and the latest events (children whose output
is "inherit", the default, write over the view: declare stdout: lines to see
their lines among the events). When standard input is the terminal too, keys
act on the selected child: up/down or j/k select, r restarts, s stops, S
starts, K kills (after a y/n), o or Enter shows its last lines of output
(kept for a child whose stdout or stderr is "lines"), q stops the tree as
Ctrl-C does. Otherwise it writes one structured log record
per event, and per output line of a child whose stdout or stderr is "lines",
to standard error.

A file's audio graph is not run: understudy render renders it.

Flags:
  --log-format text|json   format of the log records (default text)
  --log-level LEVEL        debug, info, warn or error (default info)
  --ui auto|live|logs      live view or logs; auto: live on a terminal (default auto)
  --metrics ADDR           serve Prometheus metrics at http://ADDR/metrics
                           (such as 127.0.0.1:9464; port 0 picks one and logs it)
  --http ADDR              serve the web page and the control API on TCP
                           at http://ADDR/ (a loopback address, such as
                           127.0.0.1:8080; port 0 picks one and logs it)
  --http-public            let --http serve an address other than loopback;
                           a token is then required
  --http-token FILE        the token the page requires (the file's first
                           line); with --http-public and no file, one is
                           generated and logged in the page's URL
  --socket PATH            serve the control socket (understudy ctl) at PATH
                           (default $XDG_RUNTIME_DIR/understudy/NAME.sock;
                           without $XDG_RUNTIME_DIR, /run/understudy/NAME.sock
                           for root, /run/user/UID/understudy/NAME.sock or
                           $TMPDIR/understudy-UID/NAME.sock for a user;
                           none: serve none)

While it runs, understudy ctl acts on the tree from another terminal:
status, restart, stop, start, kill or signal a child, follow the events,
reload the changed file (understudy help ctl). With --http, a browser does
too: the page shows the tree live, the latest events, and restart, stop
and start buttons per child.

Under systemd (Type=notify) it says READY=1 once the tree is up, pets the
watchdog (WatchdogSec=) while the root supervisor answers, says STOPPING=1
as it stops, and keeps STATUS= current; docs/understudy.service is a unit.

Examples:
  understudy run tree.yaml
  understudy run --ui logs --log-format json tree.yaml 2> tree.log
  understudy run --metrics :9464 tree.yaml
  understudy run --http 127.0.0.1:8080 tree.yaml

Exit status:
  0  everything stopped cleanly (on a signal, or the tree shut itself down)
  1  the file is invalid, something it names is missing, or the tree did not start
  2  usage
  3  the tree failed: its root supervisor gave up (the reasons are printed)
  4  stopped on a signal, but a child did not stop within its shutdown policy
  5  a second signal killed every process at once
`

// killWait bounds the wait for the tree to end after a kill at once.
const killWait = 15 * time.Second

func runCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	logFormat := fs.String("log-format", "text", "")
	logLevel := fs.String("log-level", "info", "")
	ui := fs.String("ui", "auto", "")
	metricsAddr := fs.String("metrics", "", "")
	socket := fs.String("socket", "", "")
	var web webConfig
	fs.StringVar(&web.addr, "http", "", "")
	fs.BoolVar(&web.public, "http-public", false, "")
	fs.StringVar(&web.tokenFile, "http-token", "", "")
	file, status, done := parseArgs(fs, runUsage, args, stdout, stderr)
	if done {
		return status
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "understudy run: --log-level %q: want debug, info, warn or error\n", *logLevel)
		return exitUsage
	}
	if *logFormat != "text" && *logFormat != "json" {
		fmt.Fprintf(stderr, "understudy run: --log-format %q: want text or json\n", *logFormat)
		return exitUsage
	}
	live := false
	switch *ui {
	case "auto":
		live = isTerminal(stdout)
	case "live":
		live = true
	case "logs":
	default:
		fmt.Fprintf(stderr, "understudy run: --ui %q: want auto, live or logs\n", *ui)
		return exitUsage
	}
	if web.addr == "" && (web.public || web.tokenFile != "") {
		fmt.Fprintln(stderr, "understudy run: --http-public and --http-token go with --http ADDR")
		return exitUsage
	}
	if file == "-" {
		fmt.Fprintln(stderr, "understudy run: FILE cannot be standard input: the tree's relative paths are relative to the file")
		return exitUsage
	}

	f, err := spec.Load(file)
	if err != nil {
		printErrors(stderr, err)
		return exitInvalid
	}
	if err := f.Preflight(); err != nil {
		printErrors(stderr, err)
		return exitInvalid
	}
	if f.Tree == nil {
		fmt.Fprintf(stderr, "%s: no tree to run: the file declares only an audio graph (understudy render renders it)\n", f.Path)
		return exitInvalid
	}
	sd, err := newSDNotifier()
	if err != nil {
		fmt.Fprintf(stderr, "understudy run: %v\n", err)
		return exitUsage
	}
	defer sd.close()

	r := &runner{ctl: newControl(f), sd: sd, stdout: stdout, stderr: stderr, kill: make(chan struct{})}
	defer r.ctl.closeFiles()
	var view *liveView
	logOut := stderr
	if live {
		view = newLiveView(stdout, stdin, r.ctl)
		logOut = view.events
	}
	opts := &slog.HandlerOptions{Level: level}
	if live {
		// The view's event lines: the time of day, no date.
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05.000"))
			}
			return a
		}
	}
	var h slog.Handler = slog.NewTextHandler(logOut, opts)
	if *logFormat == "json" {
		h = slog.NewJSONHandler(logOut, opts)
	}
	if live {
		h = tailHandler{next: h, tails: view.tails} // the keys' output pane
	}
	r.log = slog.New(h)
	return r.run(*metricsAddr, *socket, web, view)
}

// runner runs one loaded tree.
type runner struct {
	ctl            *control // the tree, the file as last loaded, its control handler
	sd             *sdNotifier
	log            *slog.Logger
	stdout, stderr io.Writer

	reinstate chan []string // simple_one_for_one supervisors restarted
	reloading sync.Mutex    // one reload at a time

	kill     chan struct{} // closed on a second signal: every process killed at once
	killOnce sync.Once
}

func (r *runner) run(metricsAddr, socket string, web webConfig, view *liveView) int {
	_, f := r.ctl.current()
	// The tree logs every event, and every output line of a child whose
	// stdout or stderr is "lines", through r.log.
	opts := supervision.Options{Name: f.Name, Logger: r.log, OnEvent: r.onEvent, Kill: r.kill, Cluster: f.Cluster}
	r.reinstate = make(chan []string, 16)
	r.ctl.reload = r.reload

	if metricsAddr != "" {
		reg := prometheus.NewRegistry()
		srv, err := serveMetrics(metricsAddr, reg)
		if err != nil {
			fmt.Fprintf(r.stderr, "understudy run: --metrics %s: %v\n", metricsAddr, err)
			return exitInvalid
		}
		defer srv.stop()
		m, err := metrics.New(reg)
		if err != nil {
			fmt.Fprintf(r.stderr, "understudy run: --metrics %s: %v\n", metricsAddr, err)
			return exitInvalid
		}
		reg.MustRegister(heartbeatAges{r.ctl})
		opts.OnEvent = func(ev supervision.Event) {
			m.Observe(ev)
			r.onEvent(ev)
		}
		url := "http://" + srv.addr + "/metrics"
		r.ctl.served(url, "", "")
		r.log.Info("serving metrics", "url", url)
	}

	if socket != "none" {
		path := socket
		var err error
		if path == "" {
			path, err = defaultSocket(f)
		}
		var srv *controlServer
		if err == nil {
			srv, err = serveControl(path, r.ctl.handler())
		}
		switch {
		case err != nil && socket != "":
			fmt.Fprintf(r.stderr, "understudy run: --socket %s: %v\n", socket, err)
			return exitInvalid
		case err != nil:
			r.log.Warn("no control socket: understudy ctl cannot reach this tree (pass --socket PATH)", "err", err)
		default:
			defer srv.stop()
			r.ctl.served("", srv.path, "")
			r.log.Info("serving the control socket", "socket", srv.path)
		}
	}
	if web.addr != "" {
		srv, err := serveWeb(web, r.ctl.handler())
		if err != nil {
			fmt.Fprintf(r.stderr, "understudy run: --http %s: %v\n", web.addr, err)
			return exitInvalid
		}
		defer srv.stop()
		r.ctl.served("", "", srv.url)
		switch {
		case srv.generated:
			r.log.Info("serving the web page; its token was generated: open this URL once", "url", srv.url, "login", srv.login)
		case srv.login != "":
			r.log.Info("serving the web page; open it once with ?token= (the token in --http-token's file)", "url", srv.url)
		default:
			r.log.Info("serving the web page", "url", srv.url)
		}
	}
	r.sdStatus("starting the tree")

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	defer reopenOnHangup(f, r.log)()

	if view != nil {
		view.start()
		defer view.stop()
	}

	if f.Audio != nil {
		r.log.Info("the file's audio graph is not run here; understudy render renders it")
	}
	if err := nonDumpable(); err != nil {
		r.log.Warn("could not make the supervisor non-dumpable: workers of its user may reach its descriptors and memory through /proc", "err", err)
	}
	r.log.Info("starting the tree", "file", f.Path)
	var tree *supervision.Tree
	killedAt := false
	sig, err := untilSignal(sigs, func(ctx context.Context) error {
		var err error
		tree, err = supervision.Start(ctx, *f.Tree, opts)
		return err
	}, func(sig os.Signal) {
		r.log.Warn("interrupted while starting: stopping what started; signal again to kill at once", "signal", sig.String())
	}, func(sig os.Signal) {
		killedAt = true
		r.killAll()
		r.log.Error("second signal: killed every process at once", "signal", sig.String())
	})
	if err != nil {
		if sig != nil && killedAt {
			r.report(view, "interrupted while starting; killed at once on a second signal")
			return exitKilledAt
		}
		if sig != nil {
			r.log.Warn("interrupted while starting: what had started was stopped", "signal", sig.String())
			r.report(view, "interrupted while starting; what had started was stopped")
			return exitUnclean
		}
		r.log.Error("the tree did not start", "err", err)
		r.report(view, "the tree did not start:\n"+explain(err))
		return exitInvalid
	}
	r.ctl.setTree(tree)
	if view != nil {
		view.setTree(tree)
	}
	r.log.Info("the tree is up", "root", rootName(f))
	if err := r.sd.notify("READY=1\nSTATUS=running"); err != nil {
		r.log.Warn("could not tell systemd the tree is up", "err", err)
	}

	var wg sync.WaitGroup
	instCtx, stopInstances := context.WithCancel(context.Background())
	defer func() { stopInstances(); wg.Wait() }()
	startInstances := func(sup []string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, f := r.ctl.current()
			r.startInstances(instCtx, tree, f, sup)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.sd.petWatchdog(instCtx, func(ctx context.Context) error {
			_, err := tree.Supervisor().Count(ctx)
			return err
		}, func(err error) {
			r.log.Warn("the root supervisor did not answer: the systemd watchdog is not petted", "err", err)
		})
	}()
	started := map[string]bool{}
	for _, in := range f.Instances {
		if key := strings.Join(in.Supervisor, "/"); !started[key] {
			started[key] = true
			startInstances(in.Supervisor)
		}
	}

	for {
		select {
		case <-tree.Done():
			stopInstances()
			r.ctl.setState("ended")
			if err := tree.Wait(context.Background()); err != nil {
				r.log.Error("the tree failed", "err", err)
				r.report(view, "the tree failed:\n"+explain(err))
				return exitFailed
			}
			r.log.Info("the tree shut itself down")
			r.report(view, "the tree shut itself down")
			return exitOK
		case sup := <-r.reinstate:
			startInstances(sup)
		case sig := <-sigs:
			stopInstances()
			return r.shutdown(tree, sig, sigs, view)
		}
	}
}

// shutdown stops the tree after the signal sig; a second signal on sigs
// kills every process at once.
func (r *runner) shutdown(tree *supervision.Tree, sig os.Signal, sigs <-chan os.Signal, view *liveView) int {
	r.ctl.setState("stopping")
	if err := r.sd.notify(fmt.Sprintf("STOPPING=1\nSTATUS=stopping (%v)", sig)); err != nil {
		r.log.Warn("could not tell systemd the tree is stopping", "err", err)
	}
	defer r.ctl.setState("ended")
	r.log.Warn("stopping the tree in reverse start order; signal again to kill at once", "signal", sig.String())
	if view != nil {
		view.setStatus(fmt.Sprintf("stopping (%v); signal again to kill at once", sig))
	}
	type result struct {
		late []supervision.ChildStopped
		err  error
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		rep, err := tree.Stop(ctx)
		done <- result{rep, err}
	}()
	select {
	case res := <-done:
		if len(res.late) > 0 || res.err != nil {
			lates := make([]string, len(res.late))
			for i, l := range res.late {
				r.log.Warn("child did not stop in time", "child", l.Supervisor+"/"+l.Child, "pid", l.Pid, "killed", l.Killed, "late", l.Late, "took", l.Took)
				lates[i] = l.String()
			}
			if res.err != nil {
				lates = append(lates, "the tree had not finished stopping")
			}
			r.report(view, "stopped, but not cleanly: "+strings.Join(lates, "; "))
			return exitUnclean
		}
		r.log.Info("stopped cleanly")
		r.report(view, "stopped cleanly")
		return exitOK
	case sig2 := <-sigs:
		r.killAll()
		r.log.Error("second signal: killed every process at once", "signal", sig2.String())
		cancel()
		<-done
		t := time.NewTimer(killWait)
		defer t.Stop()
		select {
		case <-tree.Done():
		case <-t.C:
			r.log.Error("the tree had not ended after the kill; exiting anyway", "waited", killWait)
		}
		r.report(view, fmt.Sprintf("killed at once on a second signal (%v)", sig2))
		return exitKilledAt
	}
}

// untilSignal runs fn with a context that a signal on sigs cancels, and
// reports the signal, if one came. A second signal while fn is still
// stopping what it had started (each child within its shutdown policy)
// calls kill, which kills every process at once.
func untilSignal(sigs <-chan os.Signal, fn func(context.Context) error, first func(os.Signal), kill func(os.Signal)) (os.Signal, error) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var got os.Signal
	watched := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case s := <-sigs:
			got = s
			first(s)
			cancel(fmt.Errorf("understudy: %v", s))
		case <-finished:
			return
		}
		select {
		case s := <-sigs:
			kill(s)
		case <-finished:
		}
	}()
	err := fn(ctx)
	close(finished)
	<-watched
	return got, err
}

// startInstances starts the instances the file declares for the
// simple_one_for_one supervisor at path sup, all at once: the supervisor
// starts them concurrently, so each instance's name ("conn-3") follows the
// order its request arrived in, not the file's. The first failure ends the
// requests not yet answered, and is the one logged.
func (r *runner) startInstances(ctx context.Context, tree *supervision.Tree, f *spec.File, sup []string) {
	s := tree.Supervisor(sup...)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var failed sync.Once
	for _, in := range f.Instances {
		if !slices.Equal(in.Supervisor, sup) {
			continue
		}
		wg.Go(func() {
			c, err := s.StartSimpleChild(ctx, in.Args...)
			if err != nil {
				failed.Do(func() {
					if ctx.Err() == nil {
						r.log.Error("could not start an instance", "supervisor", s.Path(), "args", in.Args, "err", err)
					}
					cancel()
				})
				return
			}
			r.log.Debug("instance started", "supervisor", s.Path(), "child", c.Name)
		})
	}
	wg.Wait()
}

// onEvent keeps the control's account of how children ended, and notices
// simple_one_for_one supervisors that were restarted (their instances are
// started again). It runs on the supervisors' goroutines.
func (r *runner) onEvent(ev supervision.Event) {
	r.ctl.observe(ev)
	e, ok := ev.(supervision.ChildReady)
	if !ok || e.Ready != nil || e.Incarnation < 2 {
		return
	}
	tree, f := r.ctl.current()
	if tree == nil {
		return
	}
	if sup, ok := instanceSupervisor(f, e.Supervisor+"/"+e.Child); ok {
		select {
		case r.reinstate <- sup:
		default:
		}
	}
}

// instanceSupervisor returns the names of the simple_one_for_one
// supervisor at actor path path, if the file starts instances under it.
func instanceSupervisor(f *spec.File, path string) ([]string, bool) {
	parts := strings.Split(path, "/")
	if len(parts) < 2 {
		return nil, false
	}
	names := parts[1:]
	for _, in := range f.Instances {
		if slices.Equal(in.Supervisor, names) {
			return names, true
		}
	}
	return nil, false
}

// killAll kills every process of the tree at once, also while it starts
// (supervision's Options.Kill, Tree.Kill). Calling it twice does nothing.
func (r *runner) killAll() {
	r.killOnce.Do(func() { close(r.kill) })
}

// sdStatus tells systemd what the tree is doing (STATUS=).
func (r *runner) sdStatus(s string) {
	if err := r.sd.notify("STATUS=" + s); err != nil {
		r.log.Warn("could not tell systemd the tree's status", "err", err)
	}
}

// report prints the outcome once the view (if any) is gone.
func (r *runner) report(view *liveView, msg string) {
	r.sdStatus(strings.SplitN(msg, "\n", 2)[0])
	if view != nil {
		view.setStatus(strings.SplitN(msg, "\n", 2)[0])
		view.stop()
	}
	fmt.Fprintf(r.stderr, "understudy: %s\n", msg)
}

// explain writes the chain of a tree's failure, one reason a line.
func explain(err error) string {
	var b strings.Builder
	for depth := 0; err != nil && depth < 32; depth++ {
		pad := strings.Repeat("  ", depth+1)
		var ee *supervision.EscalationError
		var xe *procbridge.ExitError
		switch {
		case errors.As(err, &ee) && err == error(ee):
			// Its message without its cause, which the next line tells.
			line := strings.TrimPrefix(strings.TrimSuffix(ee.Error(), ": "+ee.Cause.Error()), "supervision: ")
			fmt.Fprintf(&b, "%s%s\n", pad, line)
			err = ee.Cause
		case errors.As(err, &xe):
			fmt.Fprintf(&b, "%sprocess %s (pid %d): %v\n", pad, xe.Name, xe.Pid, xe.Exit)
			err = nil
		default:
			fmt.Fprintf(&b, "%s%v\n", pad, err)
			err = nil
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

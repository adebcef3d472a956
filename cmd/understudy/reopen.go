package main

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/spec"
	"github.com/understudy/understudy/supervision"
)

// reopener is an output that can close its file for the next write to open
// the path again: a spec file's output file.
type reopener interface{ Reopen() error }

// reopenOnHangup reopens the output files of f's tree on each SIGHUP, as
// logrotate's postrotate expects, until the returned stop is called.
func reopenOnHangup(f *spec.File, log *slog.Logger) (stop func()) {
	var outs []reopener
	if f.Tree != nil {
		eachProcess(f.Tree, func(p *procbridge.Spec) {
			for _, o := range []procbridge.Output{p.Stdout, p.Stderr} {
				if r, ok := hooks.OutputWriter(o).(reopener); ok {
					outs = append(outs, r)
				}
			}
		})
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			select {
			case <-hup:
				var errs []error
				for _, r := range outs {
					errs = append(errs, r.Reopen())
				}
				if err := errors.Join(errs...); err != nil {
					log.Warn("SIGHUP: could not close an output file", "err", err)
				}
				log.Info("SIGHUP: output files reopened", "files", len(outs))
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-ended
	}
}

// eachProcess calls fn for every process child of s and of its nested
// supervisors.
func eachProcess(s *supervision.Spec, fn func(*procbridge.Spec)) {
	for _, c := range s.Children {
		switch {
		case c.Process != nil:
			fn(c.Process)
		case c.Supervisor != nil:
			eachProcess(c.Supervisor, fn)
		}
	}
}

package spec

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/understudy/understudy/audio"
	"github.com/understudy/understudy/supervision"
)

// maxSize bounds the size of a spec file.
const maxSize = 4 << 20

// File is a loaded spec file.
type File struct {
	// Path is the file's name, as given to Load or Parse; errors and
	// positions use it.
	Path string
	// Name is the root supervisor's name (the file's `name`), for
	// supervision.Options.Name; empty means "root".
	Name string
	// Tree is the supervision tree, nil when the file declares none (a
	// file with only an audio graph).
	Tree *supervision.Spec
	// Instances are the children to start from simple_one_for_one
	// templates once the tree is up (the supervisors' `instances`), in
	// file order.
	Instances []Instance
	// Audio is the audio graph the file declares and how to run it, nil
	// when none.
	Audio *Audio
	// Cluster is how the tree reaches the nodes its remote children run
	// on (the file's `cluster`), for supervision.Options.Cluster.
	Cluster supervision.Cluster

	pos map[string]position // by Go field path: "Children[0].Process.Path" in the tree, "Audio.Config.Graph.Rate"
}

// Audio is a file's audio section: the graph and how the file says to run
// it, as the audio package takes them.
type Audio struct {
	// Config is what audio.Start takes: Config.Graph is the graph as the
	// file declares it (rate and block size with the file's defaults,
	// 48000 and 128), Config.Sink the output ports written (those the file
	// lists, or every output port no edge reads), Config.WAV the output
	// file (empty when the file names none), Config.Slack the slack
	// (audio.NoSlack for the file's 0) and Config.Spares the standby. The
	// loader has checked it with Config.Validate.
	Config audio.Config
	// Duration is how much `understudy render` renders (the file's
	// default, 1s).
	Duration time.Duration
}

// Instance is one child a simple_one_for_one supervisor of a File is asked
// to start (Supervisor.StartSimpleChild) once the tree is up.
type Instance struct {
	// Supervisor is the path of child names from the root to the
	// simple_one_for_one supervisor; empty for the root itself.
	Supervisor []string
	// Args are appended to the template's arguments.
	Args []string
}

// position is a place in a spec file. Line and Column count from 1; 0
// means unknown.
type position struct {
	Line, Column int
}

// Error is one problem in a spec file.
type Error struct {
	// File is the file's name; Line and Column count from 1, 0 when
	// unknown (a problem of the file as a whole).
	File         string
	Line, Column int
	// Path says where in the file, in the file's own terms, such as
	// "children[1].restart"; empty for the file as a whole.
	Path string
	// Msg says what is wrong.
	Msg string
	// Hint, when not empty, says what was probably meant or how to fix
	// it, such as "did you mean 'restart'?".
	Hint string
}

// Error returns "file:line:column: path: msg (hint)", leaving out what is
// unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Load reads and parses the spec file at path (see Parse).
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("spec: read: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("spec: read: %s: is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("spec: read: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a spec file whose contents are data. name is the file's
// name: errors are reported against it, and relative paths in the file (a
// command with a slash, dir, an output file, the audio output) are taken
// relative to its directory. On error the *File is nil and the error joins
// an *Error for every problem found, in file order.
func Parse(name string, data []byte) (*File, error) {
	d := newDecoder(name)
	if len(data) > maxSize {
		d.fail(nil, "", "", "file too large: over %s", formatSize(maxSize))
		return nil, d.err()
	}
	root, err := parseYAML(data)
	if err != nil {
		d.errs = append(d.errs, d.syntaxError(err))
		return nil, d.err()
	}
	if root == nil {
		d.fail(nil, "", "declare a tree with children:, or an audio: graph; see docs/spec-reference.md", "empty file")
		return nil, d.err()
	}
	f := d.file(root)
	// The owners' checks come after decoding; past the visit budget the
	// file is cut short, and past the error budget they could only be
	// counted: not worth checking a tree that large.
	if !d.stopped && len(d.errs) < maxErrors {
		partial := len(d.errs) > 0 || d.more > 0
		d.backstop(f, partial)
		d.checkAudio(f, partial)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return f, nil
}

// parseYAML parses one YAML document; it returns nil for an empty one (no
// document, or only a null).
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &extraDocError{line: extra.Line}
	case !errors.Is(err, io.EOF):
		return nil, err
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		n := doc.Content[0]
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
			return nil, nil
		}
		return n, nil
	}
	return nil, nil
}

type extraDocError struct{ line int }

func (e *extraDocError) Error() string { return "a second YAML document" }

// syntaxError turns a YAML parser error into an *Error, with the line the
// parser names.
func (d *decoder) syntaxError(err error) *Error {
	var extra *extraDocError
	if errors.As(err, &extra) {
		return &Error{File: d.name, Line: extra.line, Msg: "a second YAML document: a spec file holds one", Hint: "remove the '---' and what follows, or split the file"}
	}
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = n, rest[i+2:]
			}
		}
	}
	return &Error{File: d.name, Line: line, Msg: "YAML syntax: " + msg}
}

// err returns the problems found so far, sorted by position, joined.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	sortErrors(d.errs)
	errs := make([]error, 0, len(d.errs))
	seen := map[string]bool{}
	for _, e := range d.errs {
		s := e.Error()
		if seen[s] {
			continue
		}
		seen[s] = true
		errs = append(errs, e)
	}
	if d.more > 0 {
		errs = append(errs, &Error{File: d.name, Msg: fmt.Sprintf("%d more problems not shown", d.more)})
	}
	return errors.Join(errs...)
}

// sortErrors sorts errs by position, stably.
func sortErrors(errs []*Error) {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(a.Line-b.Line, a.Column-b.Column)
	})
}

// position returns the position in the file of a field, named by its Go
// path from the Tree ("Children[0].Process.Path") or from the File
// ("Audio.Config.Graph.Rate",
// "Audio.Config.Graph.Nodes[2].Params[\"freq\"]"). When the field itself was
// not written in the file, it returns the position of the nearest
// enclosing field that was; ok is false when there is none (a File built
// in code).
func (f *File) position(field string) (p position, ok bool) {
	for field != "" {
		if p, ok := f.pos[field]; ok {
			return p, true
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return position{}, false
}

// errorAt returns an *Error at the position of field (see position), for a
// problem found after decoding. path is the field in the file's own terms
// ("audio.nodes[2].params.freq"); hint may be empty.
func (f *File) errorAt(field, path, hint, format string, args ...any) *Error {
	p, _ := f.position(field)
	return &Error{File: f.Path, Line: p.Line, Column: p.Column, Path: path, Msg: fmt.Sprintf(format, args...), Hint: hint}
}

// resolvePath makes p, a path written in the file, absolute: a relative p
// is taken relative to base, the file's directory.
func resolvePath(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	j := filepath.Join(base, p)
	if a, err := filepath.Abs(j); err == nil {
		return a
	}
	return j
}

// formatDuration writes d the way the loader reads it, shortest first:
// "1h", "1m30s", "1.5s", "250ms".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

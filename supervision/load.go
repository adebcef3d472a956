package supervision

import (
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
)

// A spec file declares a supervision tree (and, optionally, an audio
// graph) in YAML; docs/spec-reference.md describes every key and
// docs/spec-schema.json is its JSON Schema. Load turns one into the same
// Spec a Go program builds by hand; Marshal writes a Spec back out.
//
// Loading is strict. Unknown keys, values of the wrong type, malformed
// durations and sizes, values out of range, and names that refer to nothing
// (a Go worker this program does not register, an audio edge to a node the
// graph does not declare) are all errors, each a *LoadError that says where
// (file:line:column), what, and, when it can guess, a hint. Every error in
// the file is reported at once, joined with errors.Join, in file order.
//
// Loading does not look at the host beyond the Go worker registry: whether
// the executables, directories and output files a file names exist is
// File.Preflight's question, asked by `understudy check` and `understudy
// run` before anything starts.

// MaxSpecSize bounds the size of a spec file.
const MaxSpecSize = 4 << 20

// File is a loaded spec file.
type File struct {
	// Path is the file's name, as given to Load or LoadBytes; errors and
	// positions use it.
	Path string
	// Name is the root supervisor's name (the file's `name`), for
	// Options.Name; empty means "root".
	Name string
	// Spec is the tree, nil when the file declares none (a file with only
	// an audio graph).
	Spec *Spec
	// Instances are the children to start from simple_one_for_one
	// templates once the tree is up (the supervisors' `instances`), in
	// file order.
	Instances []Instance
	// Audio is the audio graph the file declares, nil when none.
	Audio *Audio

	pos map[string]Position // by Go field path: "Children[0].Process.Path"
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

// Position is a place in a spec file. Line and Column count from 1; 0 means
// unknown.
type Position struct {
	File   string
	Line   int
	Column int
}

// text returns "file:line:column", leaving out what is unknown.
func (p Position) text() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		return p.File + ":" + strconv.Itoa(p.Line)
	}
	return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
}

// LoadError is one problem in a spec file. It matches ErrInvalid.
type LoadError struct {
	Pos Position
	// Path says where in the file, in the file's own terms, such as
	// "children[1].restart"; empty for the file as a whole.
	Path string
	// Msg says what is wrong.
	Msg string
	// Hint, when not empty, says what was probably meant or how to fix
	// it, such as "did you mean 'restart'?".
	Hint string
}

// Error returns "file:line:column: path: msg (hint)".
func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.text())
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

// Unwrap makes a LoadError match ErrInvalid.
func (e *LoadError) Unwrap() error { return ErrInvalid }

// Load reads and loads the spec file at path (see LoadBytes).
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("supervision: read spec: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("supervision: read spec: %s: is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecSize+1))
	if err != nil {
		return nil, fmt.Errorf("supervision: read spec: %w", err)
	}
	return LoadBytes(path, data)
}

// LoadBytes loads a spec file whose contents are data. name is the file's
// name: errors are reported against it, and relative paths in the file (a
// command with a slash, dir, an output file, the audio output) are taken
// relative to its directory. On error the *File is nil and the error joins
// a *LoadError for every problem found, in file order.
func LoadBytes(name string, data []byte) (*File, error) {
	d := newDecoder(name)
	if len(data) > MaxSpecSize {
		d.fail(nil, "", "", "file too large: over %s", formatSize(MaxSpecSize))
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
	if err := d.err(); err != nil {
		return nil, err
	}
	d.backstop(f)
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

// syntaxError turns a YAML parser error into a LoadError, with the line the
// parser names.
func (d *decoder) syntaxError(err error) *LoadError {
	var extra *extraDocError
	if errors.As(err, &extra) {
		return &LoadError{Pos: Position{File: d.name, Line: extra.line}, Msg: "a second YAML document: a spec file holds one", Hint: "remove the '---' and what follows, or split the file"}
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
	return &LoadError{Pos: Position{File: d.name, Line: line}, Msg: "YAML syntax: " + msg}
}

// err returns the problems found so far, sorted by position, joined.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(d.errs, func(a, b *LoadError) int {
		if c := a.Pos.Line - b.Pos.Line; c != 0 {
			return c
		}
		return a.Pos.Column - b.Pos.Column
	})
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
		errs = append(errs, &LoadError{Pos: Position{File: d.name}, Msg: fmt.Sprintf("%d more problems not shown", d.more)})
	}
	return errors.Join(errs...)
}

// position returns the position in the file of a field, named by its Go path
// from the File: "Children[0].Process.Path", "Audio.Nodes[2].Params[\"freq\"]",
// "Audio.Edges[1].To.Port". When the field itself was not written in the
// file, it returns the position of the nearest enclosing field that was;
// ok is false when there is none (a File built in code).
func (f *File) position(field string) (p Position, ok bool) {
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
	return Position{File: f.Path}, false
}

// Errorf returns a *LoadError at the position of field (see position), for a
// problem found after loading: an audio graph the audio package rejects, an
// executable that is missing. path is the field in the file's own terms
// ("audio.nodes[2].params.freq"); hint may be empty.
func (f *File) Errorf(field, path, hint, format string, args ...any) *LoadError {
	p, _ := f.position(field)
	return &LoadError{Pos: p, Path: path, Msg: fmt.Sprintf(format, args...), Hint: hint}
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

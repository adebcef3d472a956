// Package spec is the file format of understudy: a supervision tree and,
// optionally, an audio graph, declared in YAML. docs/spec-reference.md
// describes every key and docs/spec-schema.json is its JSON Schema.
//
// Load (or Parse) turns a file into the values a Go program would build by
// hand: File.Tree is a *supervision.Spec for supervision.Start, and
// File.Audio holds an audio.Config (the graph, its output ports, the WAV
// file, slack and spares) for audio.Start. Marshal writes a File back out.
//
// Parsing is strict. Unknown keys, values of the wrong type, malformed
// durations and sizes, and names that refer to nothing (a Go worker this
// program does not register, an audio edge to a node the graph does not
// declare) are all errors, each an *Error that says where
// (file:line:column), what, and, when it can guess, a hint. The ranges and
// rules of the values are their owners': the tree is checked with
// supervision.Spec.Validate, the audio section with audio.Config.Validate,
// and each problem they find is placed at the key it is about. Every error
// in the file is reported at once, joined with errors.Join, in file order.
//
// Parsing does not look at the host beyond the Go worker registry: whether
// the executables, directories and output files a file names exist is
// File.Preflight's question, asked by `understudy check` and `understudy
// run` before anything starts.
//
// A process's `stdout` or `stderr` naming a file is a procbridge.ToWriter
// of a writer that appends to it, opened at the first write and shared by
// the child's restarts; its String method returns the file's path.
// File.Close closes them once the tree has ended.
package spec

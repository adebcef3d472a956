package spec

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// Preflight checks what a loaded file needs from this host before anything
// starts: that every command is an executable file (looked up in PATH when
// it has no slash), that every dir is a directory, and that the directory
// of every output file exists. It reports every problem, each a *Error
// at the key that names it, joined; nil when all is there.
func (f *File) Preflight() error {
	var errs []error
	if f.Tree != nil {
		walkProcesses(f.Tree, "", func(field string, c *supervision.ChildSpec, p *procbridge.Spec) {
			path := f.yamlPath(field)
			if p.Path != "" {
				if msg, hint := checkExecutable(p.Path); msg != "" {
					errs = append(errs, f.errorAt(field+".Process.Path", path+".command", hint, "%s", msg))
				}
			}
			if p.Dir != "" {
				if st, err := os.Stat(p.Dir); err != nil || !st.IsDir() {
					errs = append(errs, f.errorAt(field+".Process.Dir", path+".dir", "", "'%s' is not a directory", p.Dir))
				}
			}
			for _, o := range []struct {
				key, field string
				out        procbridge.Output
			}{{"stdout", "Stdout", p.Stdout}, {"stderr", "Stderr", p.Stderr}} {
				if fo, ok := hooks.OutputWriter(o.out).(*fileOutput); ok {
					dir := filepath.Dir(fo.Path)
					if st, err := os.Stat(dir); err != nil || !st.IsDir() {
						errs = append(errs, f.errorAt(field+".Process."+o.field, path+"."+o.key, "create it first", "no directory '%s' for the output file", dir))
					}
				}
			}
		})
	}
	if f.Audio != nil && f.Audio.Config.WAV != "" {
		dir := filepath.Dir(f.Audio.Config.WAV)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			errs = append(errs, f.errorAt(audioGo+".WAV", "audio.output.path", "create it first", "no directory '%s' for the WAV file", dir))
		}
	}
	return errors.Join(errs...)
}

// checkExecutable says what is wrong with the command p, if anything.
func checkExecutable(p string) (msg, hint string) {
	path, err := exec.LookPath(p)
	if err != nil {
		hint := ""
		if strings.ContainsAny(p, " \t") {
			hint = "a command is not split on spaces: write command: [" + strings.Join(strings.Fields(p), ", ") + "]"
		}
		if !strings.ContainsRune(p, '/') {
			return fmt.Sprintf("executable '%s' not found in $PATH", p), hint
		}
		if _, serr := os.Stat(p); serr != nil {
			return fmt.Sprintf("no executable '%s'", p), hint
		}
		return fmt.Sprintf("'%s' is not an executable file", p), ""
	}
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Sprintf("'%s' is not an executable file", p), ""
	}
	return "", ""
}

// yamlPath turns a Go field path of a child ("Children[1].Supervisor.Children[0]")
// into the file's own ("children[1].supervisor.children[0]"), or a
// simple_one_for_one template's ("template").
func (f *File) yamlPath(field string) string {
	path, _ := f.splitPath(field)
	return path
}

// filePath turns a Go field path from the tree ("Children[1].Process.StateSize",
// "Intensity.MaxRestarts") into the file's own ("children[1].state_size",
// "intensity.max_restarts").
func (f *File) filePath(field string) string {
	path, rest := f.splitPath(field)
	rest = strings.TrimPrefix(rest, ".")
	rest = strings.TrimPrefix(rest, "Process.")
	if rest == "Path" {
		rest = "Command"
	}
	for _, seg := range strings.Split(rest, ".") {
		if seg != "" {
			path = joinPath(path, snake(seg))
		}
	}
	return path
}

// snake turns a Go field name into a key of the file: "ReadyTimeout" is
// "ready_timeout", "SDK" "sdk", "CPUMax" "cpu_max"; an index
// ("Children[2]") keeps its brackets.
func snake(s string) string {
	var b strings.Builder
	isUpper := func(c byte) bool { return 'A' <= c && c <= 'Z' }
	for i, r := range s {
		upper := 'A' <= r && r <= 'Z'
		lowerNext := i+1 < len(s) && 'a' <= s[i+1] && s[i+1] <= 'z'
		if upper && i > 0 && s[i-1] != '[' && (!isUpper(s[i-1]) || lowerNext) {
			b.WriteByte('_')
		}
		if upper {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// splitPath splits a Go field path from the tree into the file's path of
// the child it is in and the rest of the field.
func (f *File) splitPath(field string) (string, string) {
	var b strings.Builder
	spec := f.Tree
	rest := field
	for rest != "" {
		var idx int
		n, err := fmt.Sscanf(rest, "Children[%d]", &idx)
		if n != 1 || err != nil {
			break
		}
		seg := fmt.Sprintf("Children[%d]", idx)
		rest = strings.TrimPrefix(rest, seg)
		if b.Len() > 0 {
			b.WriteString(".")
		}
		if spec != nil && spec.Strategy == supervision.SimpleOneForOne {
			b.WriteString("template")
		} else {
			fmt.Fprintf(&b, "children[%d]", idx)
		}
		var next *supervision.Spec
		if spec != nil && idx < len(spec.Children) {
			next = spec.Children[idx].Supervisor
		}
		if after, ok := strings.CutPrefix(rest, ".Supervisor."); ok {
			b.WriteString(".supervisor")
			rest, spec = after, next
			continue
		}
		break
	}
	return b.String(), rest
}

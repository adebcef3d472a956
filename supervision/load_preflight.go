package supervision

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/understudy/understudy/procbridge"
)

// Preflight checks what a loaded file needs from this host before anything
// starts: that every command is an executable file (looked up in PATH when
// it has no slash), that every dir is a directory, and that the directory
// of every output file exists. It reports every problem, each a *LoadError
// at the key that names it, joined; nil when all is there.
func (f *File) Preflight() error {
	var errs []error
	if f.Spec != nil {
		walkProcesses(f.Spec, "", func(field string, c *ChildSpec, p *procbridge.Spec) {
			path := f.yamlPath(field)
			if p.Path != "" {
				if msg, hint := checkExecutable(p.Path); msg != "" {
					errs = append(errs, f.Errorf(field+".Process.Path", path+".command", hint, "%s", msg))
				}
			}
			if p.Dir != "" {
				if st, err := os.Stat(p.Dir); err != nil || !st.IsDir() {
					errs = append(errs, f.Errorf(field+".Process.Dir", path+".dir", "", "'%s' is not a directory", p.Dir))
				}
			}
			for _, o := range []struct {
				key, field string
				out        procbridge.Output
			}{{"stdout", "Stdout", p.Stdout}, {"stderr", "Stderr", p.Stderr}} {
				if fo, ok := o.out.Writer().(*FileOutput); ok {
					dir := filepath.Dir(fo.Path)
					if st, err := os.Stat(dir); err != nil || !st.IsDir() {
						errs = append(errs, f.Errorf(field+".Process."+o.field, path+"."+o.key, "create it first", "no directory '%s' for the output file", dir))
					}
				}
			}
		})
	}
	if f.Audio != nil && f.Audio.Output.Path != "" {
		dir := filepath.Dir(f.Audio.Output.Path)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			errs = append(errs, f.Errorf("Audio.Output.Path", "audio.output.path", "create it first", "no directory '%s' for the WAV file", dir))
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
	var b strings.Builder
	spec := f.Spec
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
		if spec != nil && spec.Strategy == SimpleOneForOne {
			b.WriteString("template")
		} else {
			fmt.Fprintf(&b, "children[%d]", idx)
		}
		var next *Spec
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
	return b.String()
}

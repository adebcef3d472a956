package spec_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/spec"
	"github.com/understudy/understudy/supervision"
)

// A spec file parses into the supervision.Spec a Go program would build by hand.
func ExampleParse() {
	f, err := spec.Parse("tree.yaml", []byte(`
name: shop
strategy: rest_for_one
intensity: {max_restarts: 3, period: 10s}
children:
  - {name: db, command: postgres, shutdown: 30s}
  - {name: web, command: [web, --port, 8080], restart: transient}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.Name, f.Tree.Strategy, f.Tree.Intensity.MaxRestarts, f.Tree.Intensity.Period)
	for _, c := range f.Tree.Children {
		restart := c.Restart
		if restart == "" {
			restart = supervision.Permanent // the zero value's meaning
		}
		fmt.Println(c.Name, c.Process.Path, c.Process.Args, restart, c.Shutdown)
	}
	// Output:
	// shop rest_for_one 3 10s
	// db postgres [] permanent 30s
	// web web [--port 8080] transient 0s
}

// Every problem in a file is reported at once, each where it is, with a
// hint when one helps.
func ExampleParse_errors() {
	_, err := spec.Parse("tree.yaml", []byte(`
strategy: one_for_al
children:
  - name: web
    command: ./web
    restrat: transient
    ready_timeout: 5
`))
	fmt.Println(err)
	// Output:
	// tree.yaml:2:11: strategy: unknown strategy 'one_for_al' (did you mean 'one_for_all'?)
	// tree.yaml:6:5: children[0].restrat: unknown key (did you mean 'restart'?)
	// tree.yaml:7:20: children[0].ready_timeout: 5 has no unit (add a unit: 5ms or 5s)
}

// A tree built in code writes out as a spec file.
func ExampleMarshal() {
	data, err := spec.Marshal(&spec.File{Tree: &supervision.Spec{
		Strategy:  supervision.OneForAll,
		Intensity: supervision.Intensity{MaxRestarts: supervision.NoRestarts},
		Children: []supervision.ChildSpec{
			{Name: "a", Process: &procbridge.Spec{Path: "sleep", Args: []string{"1000"}}},
		},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(data))
	// Output:
	// # understudy spec file: see docs/spec-reference.md
	// strategy: one_for_all
	// intensity: {max_restarts: 0}
	// children:
	//   - name: a
	//     command: sleep
	//     args: ["1000"]
}

// A tree declared in a file, as in the guide to declared trees
// (docs/guide-declarative.md), started from Go.
func ExampleLoad() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, _ := os.MkdirTemp("", "tree")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tree.yaml")
	_ = os.WriteFile(path, []byte(`
name: shop
strategy: rest_for_one
children:
  - {name: db, worker: wait, shutdown: 2s}
  - {name: web, worker: wait, restart: transient}
`), 0o600)

	f, err := spec.Load(path)
	if err != nil {
		fmt.Println(err) // every problem, one per line, file:line:column
		return
	}
	if err := f.Preflight(); err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	tree, err := supervision.Start(ctx, *f.Tree, supervision.Options{Name: f.Name})
	if err != nil {
		fmt.Println(err)
		return
	}
	children, _ := tree.Supervisor().Children(ctx)
	for _, c := range children {
		fmt.Println(tree.Supervisor().Path(), c.Name, c.State)
	}
	late, err := tree.Stop(ctx)
	fmt.Println(len(late), "late", err)
	// Output:
	// shop db running
	// shop web running
	// 0 late <nil>
}

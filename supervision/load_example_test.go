package supervision_test

import (
	"fmt"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// A spec file loads into the Spec a Go program would build by hand.
func ExampleLoadBytes() {
	f, err := supervision.LoadBytes("tree.yaml", []byte(`
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
	fmt.Println(f.Name, f.Spec.Strategy, f.Spec.Intensity.MaxRestarts, f.Spec.Intensity.Period)
	for _, c := range f.Spec.Children {
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
func ExampleLoadBytes_errors() {
	_, err := supervision.LoadBytes("tree.yaml", []byte(`
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

// A Spec built in code writes out as a spec file.
func ExampleMarshal() {
	data, err := supervision.Marshal(supervision.Spec{
		Strategy:  supervision.OneForAll,
		Intensity: supervision.Intensity{MaxRestarts: supervision.NoRestarts},
		Children: []supervision.ChildSpec{
			{Name: "a", Process: &procbridge.Spec{Path: "sleep", Args: []string{"1000"}}},
		},
	})
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

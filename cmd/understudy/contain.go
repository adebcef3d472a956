package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/understudy/understudy/internal/linux"
)

// containmentLine says which guarantee this host gives that no process
// outlives its worker, or understudy itself: what procbridge decides at
// its first start (cgroup mode or process groups), found the same way.
func containmentLine() string {
	_, mount, hybrid, homeErr := linux.CgroupHome()
	d, err := linux.MakeDomain("understudy.check." + strconv.Itoa(os.Getpid()))
	if err != nil {
		where := ""
		if homeErr == nil {
			where = "cgroup v2 at " + mount + "; "
		}
		return fmt.Sprintf("containment: process groups (%s%v): a worker's children in its process group end with it, "+
			"but a descendant that calls setsid() outlives it while understudy runs; if understudy is killed, even by SIGKILL, "+
			"its keeper (understudy re-executed) kills the workers' process groups and every process that carries "+
			"its marker in its environment (a descendant that scrubbed its environment escapes); run as root, "+
			"or in a delegated cgroup v2 subtree (systemd-run --user --scope -p Delegate=yes), for cgroup containment", where, err)
	}
	d.RemoveAll()
	how := "hybrid, beside cgroup v1"
	if !hybrid {
		how = "unified"
	}
	who := "as root"
	if os.Geteuid() != 0 {
		who = "in a delegated subtree"
	}
	return fmt.Sprintf("containment: cgroups (cgroup v2 at %s, %s; cgroups may be made %s; cgroup.kill and forking into a cgroup work): "+
		"each worker runs in a cgroup of its own, and its descendants end with it, those that called setsid() too; "+
		"if understudy is killed, even by SIGKILL, its keeper (understudy re-executed) ends every worker and descendant", mount, how, who)
}

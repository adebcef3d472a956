package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

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

// limitsLine says which limits of a child (memory_max, cpu_max, pids_max)
// this host can apply, and through which cgroup version: what procbridge
// decides at the first start that asks for one, found the same way.
func limitsLine() string {
	d, err := linux.MakeDomain("understudy.check." + strconv.Itoa(os.Getpid()))
	if err != nil {
		d = linux.Cgroup{}
	} else {
		defer d.RemoveAll()
	}
	plan := linux.PlanLimits(d)
	keys := map[string]string{linux.CtlMemory: "memory_max", linux.CtlCPU: "cpu_max", linux.CtlPids: "pids_max"}
	var have, lack []string
	for _, ctl := range []string{linux.CtlMemory, linux.CtlCPU, linux.CtlPids} {
		switch _, v1 := plan.V1[ctl]; {
		case v1:
			have = append(have, keys[ctl]+" through cgroup v1 ("+ctl+" controller)")
		case plan.Why[ctl] != "":
			lack = append(lack, keys[ctl]+" ("+ctl+" controller: "+plan.Why[ctl]+")")
		default:
			have = append(have, keys[ctl]+" through cgroup v2 ("+ctl+" controller)")
		}
	}
	s := "limits: "
	if len(have) > 0 {
		s += strings.Join(have, ", ")
	}
	if len(lack) > 0 {
		if len(have) > 0 {
			s += "; "
		}
		s += "not applied here, a child that sets them fails to start: " + strings.Join(lack, ", ")
	}
	return s
}

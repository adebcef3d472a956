package linux

// KeeperEnv makes a program re-executed by its supervising process that
// process's keeper (see Keep). Its value says what to end: "cgroup:PATH",
// every process in the cgroup PATH, or "pgroup:MARK", the process groups
// the supervising process names on the keeper's stdin and every process
// whose environment holds MarkEnv=MARK.
const KeeperEnv = "UNDERSTUDY_KEEPER"

// MarkEnv is the variable every worker of a supervising process without
// cgroups carries, and its descendants inherit: what lets its keeper find
// those that left their worker's process group.
const MarkEnv = "UNDERSTUDY_DOMAIN"

// KeeperScript is the keeper for a program that cannot be re-executed as
// one, in cgroup mode: a shell that waits for EOF on its standard input,
// then kills the cgroup given as its first argument, waits (bounded) until
// it is empty, and removes it with what is below it.
const KeeperScript = `trap "" INT TERM HUP PIPE
while read _; do :; done
echo 1 > "$1/cgroup.kill"
i=0
while [ $i -lt 250 ] && ! grep -q "populated 0" "$1/cgroup.events" 2>/dev/null; do i=$((i+1)); sleep 0.02; done
find "$1" -depth -type d -exec rmdir {} \; 2>/dev/null
exit 0`

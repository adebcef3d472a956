package procbridge

// workerTitle is argv[0] of a re-executed Go worker, its title in ps:
// which child it is and, for a spare, that it is one. The program is
// found by its path (os.Executable), so argv[0] is free text; the SDK
// (procbridge/worker) takes the " (spare)" out when the spare becomes the
// primary. A user executable's argv is its own and left as it is.
func workerTitle(name string, spare bool) string {
	t := "understudy: " + name
	if spare {
		t += " (spare)"
	}
	return t
}

package main

import (
	"os"
	"runtime/debug"
)

// daemonMemoryLimit is the Go runtime's soft memory limit in a FUSE-mode
// daemon. The mount's I/O buffers are bounded by its budget (fusefs,
// 64 MiB), but the garbage collector lets the heap grow to twice what is
// live before it collects: 8 writers and 8 readers at once peaked at
// 237 MiB RSS without a limit and 174 MiB with this one (the target is
// 200 MiB). Near the limit the collector runs more often; it never takes
// more than half the CPU for it, and an idle daemon (about 25 MiB) never
// comes near. GOMEMLIMIT in the environment takes precedence.
const daemonMemoryLimit = 150 << 20

// limitMemory sets daemonMemoryLimit unless GOMEMLIMIT is set.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(daemonMemoryLimit)
	}
}

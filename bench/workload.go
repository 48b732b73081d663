package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Units of a workload's figure.
const (
	UnitMiBps     = "MiB/s"
	UnitOpsps     = "ops/s"
	UnitFilesps   = "files/s"
	UnitEntriesps = "entries/s"
)

// Params are a workload's knobs; zero fields do not apply to it. They are
// part of the report so that a figure always travels with what made it.
type Params struct {
	Block    int           `json:"block,omitempty"`     // bytes per read or write
	FileSize int64         `json:"file_size,omitempty"` // bytes per file
	Threads  int           `json:"threads,omitempty"`   // concurrent workers
	Files    int           `json:"files,omitempty"`     // files (or directory entries) made or read
	Repeat   int           `json:"repeat,omitempty"`    // times the measured step runs
	Duration time.Duration `json:"duration,omitempty"`  // time-bounded workloads run this long
	Cold     bool          `json:"cold,omitempty"`      // caches dropped before the measured step
	// WarmServer: after the drop, the file is read once on the server's
	// side (the export, when the target is local), so that only the
	// client's caches are cold, as when EFS has the data in memory.
	WarmServer bool `json:"warm_server,omitempty"`
	Direct     bool `json:"direct,omitempty"` // O_DIRECT on mounts: every read reaches the server
	Fsync      bool `json:"fsync,omitempty"`  // every write is followed by fsync
}

// Workload is one row of the benchmark: what it does, in which unit its
// figure is, and its parameters. The body is chosen by Name.
type Workload struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Unit        string `json:"unit"`
	Params      Params `json:"params"`
}

// Sizes are the user-settable scales of the workloads (flags).
type Sizes struct {
	Size     int64         // large file for the sequential and random workloads
	Threads  int           // workers of the multi-threaded random read
	Files    int           // small files (and time-to-first-byte files)
	Entries  int           // entries of the listed directory
	Duration time.Duration // length of each time-bounded workload
}

// DefaultSizes finish a default run (four paths) in about two minutes on
// a 2-core machine against the local target.
func DefaultSizes() Sizes {
	return Sizes{Size: 256 << 20, Threads: 16, Files: 1000, Entries: 10000, Duration: 3 * time.Second}
}

// Workloads is the workload table for the given sizes, in run order:
// the sequential write leaves the file the reads after it use.
func Workloads(s Sizes) []Workload {
	const mib, kib = 1 << 20, 4 << 10
	return []Workload{
		{"seqwrite", "sequential write of one large file in 1 MiB blocks, then fsync and close", UnitMiBps,
			Params{Block: mib, FileSize: s.Size, Fsync: true}},
		{"seqread-cold", "sequential read of the large file in 1 MiB blocks after dropping caches", UnitMiBps,
			Params{Block: mib, FileSize: s.Size, Cold: true}},
		{"seqread-cold-client", "the same after dropping caches and reading the file once on the server's side: only the client is cold", UnitMiBps,
			Params{Block: mib, FileSize: s.Size, Cold: true, WarmServer: true}},
		{"seqread-warm", "the same read again at once: whatever the client keeps cached", UnitMiBps,
			Params{Block: mib, FileSize: s.Size}},
		{"randread-1", "random 4 KiB reads of the large file, one thread, O_DIRECT on mounts", UnitOpsps,
			Params{Block: kib, FileSize: s.Size, Threads: 1, Duration: s.Duration, Cold: true, Direct: true}},
		{fmt.Sprintf("randread-%d", s.Threads), fmt.Sprintf("random 4 KiB reads of the large file, %d threads, O_DIRECT on mounts", s.Threads), UnitOpsps,
			Params{Block: kib, FileSize: s.Size, Threads: s.Threads, Duration: s.Duration, Cold: true, Direct: true}},
		{"randwrite-fsync", "random 4 KiB writes into a 64 MiB file, each followed by fsync", UnitOpsps,
			Params{Block: kib, FileSize: min(s.Size, 64<<20), Threads: 1, Duration: s.Duration, Fsync: true}},
		{"smallfiles", "per file: create and write 4 KiB, stat, read, delete (one op each; figure is files/s)", UnitFilesps,
			Params{Block: kib, FileSize: kib, Files: s.Files}},
		{"listdir", "list a directory of empty files (names only), caches dropped before each listing", UnitEntriesps,
			Params{Files: s.Entries, Repeat: 3, Cold: true}},
		{"ttfb", "time to first byte: open and read the first 4 KiB of files never opened before", UnitOpsps,
			Params{Block: kib, FileSize: 64 << 10, Files: max(s.Files/5, 1), Cold: true}},
		{"untar", "unpack a source tree (a tarball of Go's src/net made at start): mkdir, create, write, close", UnitFilesps,
			Params{}},
	}
}

// SelectWorkloads returns the workloads named in names (all when empty),
// in table order. A name ending in '*' is a prefix ("seqread*").
func SelectWorkloads(all []Workload, names []string) ([]Workload, error) {
	if len(names) == 0 {
		return all, nil
	}
	for _, n := range names {
		if !slices.ContainsFunc(all, func(w Workload) bool { return nameMatches(n, w.Name) }) {
			return nil, fmt.Errorf("bench: unknown workload %q (have %s)", n, workloadNames(all))
		}
	}
	var out []Workload
	for _, w := range all {
		if slices.ContainsFunc(names, func(n string) bool { return nameMatches(n, w.Name) }) {
			out = append(out, w)
		}
	}
	return out, nil
}

func nameMatches(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

func workloadNames(ws []Workload) string {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.Name
	}
	return strings.Join(names, ", ")
}

// measure is what one workload run on one path produced.
type measure struct {
	ops     int64         // operations counted in the figure
	bytes   int64         // bytes moved (throughput workloads)
	elapsed time.Duration // wall time of the measured part
	lat     hist          // per-operation latency
	note    string        // how caches were handled, and such
}

// body runs a workload on env's path. It does its own setup (unmeasured)
// and leaves its files for the next workload or the final cleanup.
type body func(ctx context.Context, e *env, p Params) (measure, error)

// bodyOf finds a workload's body by name.
func bodyOf(name string) (body, error) {
	switch {
	case name == "seqwrite":
		return seqWrite, nil
	case strings.HasPrefix(name, "seqread"):
		return seqRead, nil
	case strings.HasPrefix(name, "randread"):
		return randRead, nil
	case name == "randwrite-fsync":
		return randWrite, nil
	case name == "smallfiles":
		return smallFiles, nil
	case name == "listdir":
		return listDir, nil
	case name == "ttfb":
		return ttfb, nil
	case name == "untar":
		return untar, nil
	}
	return nil, fmt.Errorf("bench: no body for workload %q", name)
}

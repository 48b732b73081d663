package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
)

// PathInfo names a path and says what it measures.
type PathInfo struct{ Name, Description string }

// AllPaths are the paths in run (and column) order; the first is the
// baseline of every ratio.
var AllPaths = []PathInfo{
	{"fuse", "efs-fuse FUSE mount: application -> kernel FUSE -> fusefs -> nfsclient -> TLS"},
	{"kernel", "fallback mode: kernel NFS client -> efs-fuse tunnel (TLS)"},
	{"client", "nfsclient in-process over TLS, no FUSE: the ceiling of our own stack"},
	{"client-plain", "nfsclient over plain TCP to ganesha: the client path minus TLS"},
	{libnfsPathName, "libnfs nfs-cp through an efs-utils-style stunnel client (sequential reads only)"},
	{"local", "the export directory itself: the server's ceiling"},
}

// DefaultDepth is how many blocks the client paths' sequential streams
// keep in flight: 8 MiB, what a read-ahead or write-behind window of a
// FUSE file system would keep (see Path.Depth).
const DefaultDepth = 8

// DefaultUntarSource is the tree the untar workload unpacks: about 450
// files and 5 MiB, a realistic mix of small and medium source files.
const DefaultUntarSource = "/usr/local/go/src/net"

// Config is one run. Zero fields take defaults (see withDefaults).
type Config struct {
	Paths     []string // path names (default: all); order is always AllPaths'
	Workloads []string // workload names or prefixes with '*' (default: all)
	Sizes     Sizes
	Depth     int // client paths' sequential blocks in flight
	// NConnect is the connections per NFS session of the fuse and client
	// paths (the nconnect mount option); default 1.
	NConnect int
	// Rounds runs every path this many times, in turn, and reports the
	// median of each cell: on a shared machine one path's figures would
	// otherwise carry whatever else ran during its turn.
	Rounds      int
	UntarSource string // directory tarred for the untar workload

	// A remote mount target. Empty Target: start a local one (root).
	Target      string // TLS host:port
	ServerName  string // name in its certificate
	CAFile      string // CA to verify it with
	PlainTarget string // plain NFS host:port for client-plain

	Mount       string // an existing efs-fuse (or EFS) mount for the fuse path
	KernelMount string // an existing fallback-mode mount for the kernel path
	WorkDir     string // parent of the local target's files and mount point; default $TMPDIR
	// Exe is the efs-fuse binary. When set, the local target and the fuse
	// path's daemon run as processes of their own (as in production), so
	// the CPU and memory columns say what each costs; otherwise both run
	// in this process, and the fuse path's figures include the bench's.
	Exe string

	Progress io.Writer // progress bar destination; nil for none
	Logger   *zap.Logger
}

func (c Config) withDefaults() Config {
	d := DefaultSizes()
	if c.Sizes.Size <= 0 {
		c.Sizes.Size = d.Size
	}
	if c.Sizes.Threads <= 0 {
		c.Sizes.Threads = d.Threads
	}
	if c.Sizes.Files <= 0 {
		c.Sizes.Files = d.Files
	}
	if c.Sizes.Entries <= 0 {
		c.Sizes.Entries = d.Entries
	}
	if c.Sizes.Duration <= 0 {
		c.Sizes.Duration = d.Duration
	}
	// The large file is read in 1 MiB blocks and at random 4 KiB offsets.
	c.Sizes.Size = max(c.Sizes.Size&^(1<<20-1), 1<<20)
	if c.Depth <= 0 {
		c.Depth = DefaultDepth
	}
	c.NConnect = max(c.NConnect, 1)
	c.Rounds = max(c.Rounds, 1)
	if c.UntarSource == "" {
		c.UntarSource = DefaultUntarSource
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// SelectPaths checks names against AllPaths and returns them in
// AllPaths order (all paths when names is empty).
func SelectPaths(names []string) ([]string, error) {
	var out []string
	for _, p := range AllPaths {
		if len(names) == 0 || slices.Contains(names, p.Name) {
			out = append(out, p.Name)
		}
	}
	for _, n := range names {
		if !slices.Contains(out, n) {
			var all []string
			for _, p := range AllPaths {
				all = append(all, p.Name)
			}
			return nil, fmt.Errorf("bench: unknown path %q (have %s)", n, strings.Join(all, ", "))
		}
	}
	return out, nil
}

// Run sets up the target, runs every selected workload on every selected
// path, one path at a time (a mount's background work must not disturb
// another path's figures), and returns the report. A workload that fails
// on a path is recorded in its cell and the run goes on; so is a path
// that cannot be set up. The error then summarises what failed, and the
// report is still returned.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	ws, err := SelectWorkloads(Workloads(cfg.Sizes), cfg.Workloads)
	if err != nil {
		return nil, err
	}
	paths, err := SelectPaths(cfg.Paths)
	if err != nil {
		return nil, err
	}
	var tarball []byte
	if slices.ContainsFunc(ws, func(w Workload) bool { return w.Name == "untar" }) {
		if tarball, err = MakeTarball(cfg.UntarSource); err != nil {
			return nil, err
		}
	}
	tgt, err := openTarget(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r := &Report{Started: time.Now(), Host: hostInfo(), Target: tgt.describe(), Baseline: paths[0], Workloads: ws}
	if cfg.NConnect > 1 {
		r.NConnect = cfg.NConnect
	}
	if cfg.Rounds > 1 {
		r.Rounds = cfg.Rounds
	}
	bar := newBar(cfg.Progress, cfg.Rounds*len(paths)*len(ws))
	var errs []error
	for round := range cfg.Rounds {
		for _, name := range paths {
			st := PathStatus{Name: name, Description: describePath(name)}
			perr := runPath(ctx, tgt, name, round, ws, tarball, r, bar)
			var skip *SkipError
			switch {
			case errors.As(perr, &skip):
				st.Skipped = skip.Reason
			case perr != nil:
				st.Skipped = "failed: " + perr.Error()
				errs = append(errs, fmt.Errorf("path %s: %w", name, perr))
			}
			if round == 0 {
				r.Paths = append(r.Paths, st)
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	r.Results = medians(r.Results)
	for _, res := range r.Results {
		if res.Error != "" {
			errs = append(errs, fmt.Errorf("%s on %s: %s", res.Workload, res.Path, res.Error))
		}
	}
	errs = append(errs, tgt.close(), ctx.Err())
	r.Elapsed = Duration(time.Since(r.Started))
	return r, errors.Join(errs...)
}

// runPath runs the workloads on one path and tidies up after it.
func runPath(ctx context.Context, tgt *target, name string, round int, ws []Workload, tarball []byte, r *Report, bar *progressbar.ProgressBar) error {
	describe(bar, name+": setting up")
	p, setup, err := tgt.openPath(ctx, name, round)
	if err != nil {
		if bar != nil {
			_ = bar.Add(len(ws)) // the cells that will not run
		}
		return err
	}
	e := &env{path: p, setup: setup, canDrop: canDropCaches(), tarball: tarball, meter: meter{procs: procsOf(p), calls: tgt.callCounter(name)}}
	for _, w := range ws {
		if ctx.Err() != nil {
			break
		}
		if s, ok := p.(interface{ supports(string) bool }); ok && !s.supports(w.Name) {
			if bar != nil {
				_ = bar.Add(1)
			}
			continue // the cell stays empty: the path cannot run it
		}
		describe(bar, name+": "+w.Name)
		res := Result{Workload: w.Name, Path: name, Unit: w.Unit}
		b, err := bodyOf(w.Name)
		if err == nil {
			var m measure
			e.metered = false
			if m, err = b(ctx, e, w.Params); err == nil {
				res = result(w, name, m)
				if e.metered {
					res = res.withUsage(e.used)
				}
			}
		}
		if err != nil {
			res.Error = err.Error()
		}
		r.Results = append(r.Results, res)
		if bar != nil {
			_ = bar.Add(1)
		}
	}
	describe(bar, name+": cleaning up")
	var cerr error
	for _, s := range scratch {
		cerr = errors.Join(cerr, setup.RemoveAll(ctx, s))
	}
	cerr = errors.Join(cerr, p.Close())
	if cerr != nil {
		return fmt.Errorf("clean up: %w", cerr)
	}
	return nil
}

func describePath(name string) string {
	for _, p := range AllPaths {
		if p.Name == name {
			return p.Description
		}
	}
	return ""
}

// newBar returns a progress bar on w, or nil when w is nil (the caller
// decides: off with --quiet or when stderr is not a terminal).
func newBar(w io.Writer, total int) *progressbar.ProgressBar {
	if w == nil || total == 0 {
		return nil
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
	)
}

func describe(bar *progressbar.ProgressBar, s string) {
	if bar != nil {
		bar.Describe(fmt.Sprintf("%-30s", s))
	}
}

func hostInfo() HostInfo {
	h := HostInfo{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	h.Hostname, _ = os.Hostname()
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		h.Kernel = utsString(u.Release[:])
	}
	return h
}

func utsString(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/efs-fuse/efs-fuse/bench"
)

// benchOptions is the parsed command line of `efs-fuse bench`.
type benchOptions struct {
	cfg       bench.Config
	size      string // --size, parsed by parseSize
	jsonFile  string
	chartFile string
	quiet     bool
	verbose   bool
	// cpuProfile is --cpuprofile: where to write a CPU profile of the run.
	cpuProfile string
	// inProcess is --in-process: the local target and the fuse path's
	// daemon run in the bench process instead of processes of their own.
	inProcess bool
}

const benchLong = `Runs the same workloads on several paths to the same data and prints one table
with each path's figure as a ratio to the fuse path (the baseline).

Paths:
  fuse          an efs-fuse mount (made in this process, or --mount DIR)
  kernel        fallback mode: the kernel NFS client through efs-fuse's TLS tunnel
                (mounted for the run, or --kernel-mount DIR; skipped where the kernel
                has no NFS client: scripts/uml-bench.sh runs it in a User-Mode Linux guest)
  client        the nfsclient library in-process over TLS, no FUSE: our ceiling
  client-plain  nfsclient over plain TCP to the server: what TLS costs
  libnfs-stunnel  libnfs's nfs-cp through an efs-utils-style stunnel client: sequential
                reads only (skipped where nfs-cp or stunnel4 is missing)
  local         the export directory itself: the server's ceiling

Workloads: seqwrite, seqread-cold, seqread-warm, randread-1, randread-N
(N = --threads), randwrite-fsync, smallfiles, listdir, ttfb, untar; see
docs/BENCHMARKING.md.

By default it starts a local target (nfs-ganesha behind the TLS front end, as
"efs-fuse local-target"), which needs root and nfs-ganesha. --target, --server-name
and --cafile point it at an existing mount target instead; --mount uses an
existing mount for the fuse path. The defaults finish in about two minutes on
a small machine.`

const benchExample = `  efs-fuse bench
  efs-fuse bench --paths fuse,client --workloads 'seqread*' --size 1GiB
  efs-fuse bench --json out.json --chart out.svg
  efs-fuse bench --target 10.0.0.5:2049 --server-name fs-0123.efs.us-east-1.amazonaws.com \
      --cafile /etc/amazon/efs/efs-utils.crt --mount /mnt/efs --paths fuse,client`

// newBenchCmd builds `efs-fuse bench`.
func newBenchCmd() *cobra.Command {
	o := &benchOptions{}
	d := bench.DefaultSizes()
	cmd := &cobra.Command{
		Use:           "bench [flags]",
		Short:         "Benchmark the FUSE path against the kernel, the client library and the server",
		Long:          benchLong,
		Example:       benchExample,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			size, err := parseSize(o.size)
			if err != nil {
				return &flagError{err: fmt.Errorf("--size: %w", err)}
			}
			o.cfg.Sizes.Size = size
			return runBench(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.cfg.Paths, "paths", nil, "paths to run, comma-separated (default all: fuse,kernel,client,client-plain,libnfs-stunnel,local)")
	f.StringSliceVar(&o.cfg.Workloads, "workloads", nil, "workloads to run, comma-separated; 'seqread*' matches a prefix (default all)")
	f.StringVar(&o.size, "size", fmt.Sprintf("%dMiB", d.Size>>20), "size of the large file (sequential and random workloads): N, NKiB, NMiB, NGiB")
	f.IntVar(&o.cfg.Sizes.Threads, "threads", d.Threads, "threads of the multi-threaded random read")
	f.IntVar(&o.cfg.Sizes.Files, "files", d.Files, "files of the small-file workload (ttfb uses a fifth)")
	f.IntVar(&o.cfg.Sizes.Entries, "entries", d.Entries, "entries of the listed directory")
	f.DurationVar(&o.cfg.Sizes.Duration, "duration", d.Duration, "length of each time-bounded workload (random reads and writes)")
	f.IntVar(&o.cfg.Depth, "depth", bench.DefaultDepth, "1 MiB blocks the client paths keep in flight in sequential workloads")
	f.IntVar(&o.cfg.NConnect, "nconnect", 1, "connections per NFS session on the fuse and client paths (the nconnect mount option)")
	f.IntVar(&o.cfg.Rounds, "rounds", 1, "run every path this many times in turn and report each cell's median (a shared machine's noise)")
	f.StringVar(&o.cfg.UntarSource, "untar-src", bench.DefaultUntarSource, "directory tarred at start for the untar workload")
	f.StringVar(&o.cfg.Target, "target", "", "existing mount target HOST:PORT (TLS) instead of a local one")
	f.StringVar(&o.cfg.ServerName, "server-name", "", "name in the target's certificate (with --target)")
	f.StringVar(&o.cfg.CAFile, "cafile", "", "CA file to verify the target with (with --target)")
	f.StringVar(&o.cfg.PlainTarget, "plain-target", "", "plain NFS HOST:PORT of the target, for client-plain (with --target)")
	f.StringVar(&o.cfg.Mount, "mount", "", "existing efs-fuse mount to use for the fuse path instead of mounting")
	f.StringVar(&o.cfg.KernelMount, "kernel-mount", "", "existing fallback-mode mount for the kernel path")
	f.StringVar(&o.cfg.WorkDir, "workdir", "", "where the local target's export and the mount point go (ext4 or xfs; default $TMPDIR)")
	f.StringVar(&o.jsonFile, "json", "", "also write the report as JSON to this file")
	f.StringVar(&o.chartFile, "chart", "", "also draw the ratios to this .svg or .png file")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log at DEBUG level to stderr")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the bench process to this file (with --in-process: the FUSE server, the clients and the target's front end)")
	f.BoolVar(&o.inProcess, "in-process", false, "run the local target and the fuse path's daemon in this process (one profile covers them; the CPU columns then mix them with the application)")
	return cmd
}

// runBench runs the benchmark and prints the table; the JSON and chart
// are written even when some cells failed, so that a partial run still
// leaves its figures behind.
func runBench(ctx context.Context, o *benchOptions, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	level := zapcore.ErrorLevel // warnings would tear the progress bar apart
	if o.verbose {
		level = zapcore.DebugLevel
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(stderr), level))
	defer log.Sync() //nolint:errcheck // stderr sync errors are meaningless
	o.cfg.Logger = log
	if !o.quiet && !o.verbose && isTerminal(stderr) {
		o.cfg.Progress = stderr
	}
	if !o.inProcess {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: find the efs-fuse binary to run the daemon and the target with (or use --in-process): %w", err)
		}
		o.cfg.Exe = exe
	}
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	r, runErr := bench.Run(ctx, o.cfg)
	if r == nil {
		return runErr
	}
	fmt.Fprintf(stdout, "efs-fuse bench: target %s\nhost %s (%s, %d CPUs, %s), %s, took %s\n\n",
		r.Target, r.Host.Hostname, r.Host.Kernel, r.Host.CPUs, r.Host.GoVersion,
		r.Started.Format(time.RFC3339), time.Duration(r.Elapsed).Round(time.Second))
	if err := r.WriteTable(stdout); err != nil {
		return fmt.Errorf("bench: print table: %w", err)
	}
	if o.jsonFile != "" {
		if err := r.WriteJSON(o.jsonFile); err != nil {
			return err
		}
	}
	if o.chartFile != "" {
		if err := r.WriteChart(o.chartFile); err != nil {
			return err
		}
	}
	return runErr
}

// isTerminal reports whether w is a terminal (the progress bar's redraws
// would litter a file or a pipe).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// parseSize reads "268435456", "256MiB", "1GiB", "512KiB" (also the
// K/M/G and KB/MB/GB spellings, all binary).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffixes []string
		mult     int64
	}{{[]string{"GiB", "GB", "G"}, 1 << 30}, {[]string{"MiB", "MB", "M"}, 1 << 20}, {[]string{"KiB", "KB", "K"}, 1 << 10}} {
		for _, suf := range u.suffixes {
			if rest, ok := strings.CutSuffix(t, suf); ok {
				t, mult = strings.TrimSpace(rest), u.mult
				break
			}
		}
		if mult != 1 {
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number with an optional KiB, MiB or GiB suffix", s)
	}
	return n * mult, nil
}

// startCPUProfile profiles this process (with the default local target and
// mount that is the FUSE server, both client paths and the TLS front end;
// ganesha and the kernel are not in it) until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: --cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: --cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

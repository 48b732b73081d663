package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/efs-fuse/efs-fuse/internal/daemon"
	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes. mount(8) helpers exit 1 for every failure the EFS helper
// reports, and scripts test for it.
const (
	exitOK    = 0
	exitError = 1
)

// Main runs the command line and returns the process exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args, systemDeps())
}

// run executes argv (argv[0] included: it selects mount.efs semantics).
func run(ctx context.Context, argv []string, deps *mountDeps) int {
	name := "efs-fuse"
	if len(argv) > 0 {
		name = filepath.Base(argv[0])
		argv = argv[1:]
	}
	root := newRootCmd(name, deps, nil)
	root.SetArgs(argv)
	root.SetOut(deps.Stdout)
	root.SetErr(deps.Stderr)
	return exitCode(root.ExecuteContext(ctx), name, deps.Stderr)
}

// flagError is a command-line syntax error (unknown flag, missing value).
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }

// exitCode is the one place that turns errors into exit codes and the
// messages users see. Messages are printed bare, as the EFS helper prints
// them, whether they come from this process or the background child.
func exitCode(err error, name string, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var (
		usage *mountopts.UsageError
		child *daemon.ChildError
		cfgE  *efsconfig.Error
		flagE *flagError
	)
	switch {
	case errors.As(err, &usage):
		fmt.Fprintln(stderr, usage.Msg)
	case errors.As(err, &child):
		fmt.Fprintln(stderr, child.Msg)
	case errors.As(err, &cfgE):
		fmt.Fprintln(stderr, cfgE.Error())
	case errors.As(err, &flagE):
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", name, flagE.err, name)
	default:
		fmt.Fprintln(stderr, err.Error())
	}
	return exitError
}

// invokedAsMountHelper reports whether argv[0] makes us mount(8)'s helper
// (/sbin/mount.efs), where -f means "fake".
func invokedAsMountHelper(name string) bool { return name == "mount.efs" }

const rootLong = `Mounts an Amazon EFS file system through FUSE, speaking NFSv4.1 over TLS to the
mount target directly. The command line, options, defaults, messages, config
file (/etc/amazon/efs/efs-utils.conf) and log file (/var/log/amazon/efs/mount.log)
are those of the EFS mount helper, amazon-efs-utils.

DEVICE is fs-id[:/path] (path defaults to /) or the DNS name of a mount target.
OPTIONS are the EFS helper's (tls, tlsport, iam, accesspoint, region, az,
mounttargetip, ...) plus mounttargetport=N and fallback, and NFS options (hard,
soft, timeo, retrans, rsize, wsize, ro, noac, actimeo, ...). An option nobody
knows fails the mount, naming the option meant if it looks like a typo (-s:
mount anyway). Relative paths (cafile=, jwtpath=, netns=, --config, the mount
point) are read against the current directory. Warnings that weaken the mount
(no TLS, verify=0, ignored options) are printed as well as logged.

The command returns once the file system answers, leaving a background process
serving the mount (or exits 1 with the reason).

How -f is read depends on the name the program is run by:
  mount.efs (e.g. a /sbin/mount.efs symlink, run by "mount -t efs" and fstab):
      mount(8) helper semantics: -f is a FAKE mount: parse and validate
      everything, resolve the server, print what would be done, mount nothing.
      -n, -s (sloppy: unknown options are ignored) and -v are mount(8)'s.
  efs-fuse (also mount.fuse.efs-fuse, and via mount.fuse3 for
  "mount -t fuse.efs-fuse DEVICE DIR -o OPTS", which prepends options such as
  rw, dev, suid and never passes -f):
      -f keeps the mount in the FOREGROUND (for debugging and systemd
      Type=simple units), logging to stderr as well; --fake is the dry run.`

const rootExample = `  efs-fuse -o tls fs-12345678:/ /mnt/efs
  efs-fuse fs-12345678:/data /mnt/efs -o tls,iam,accesspoint=fsap-0123456789abcdef0
  mount -t efs -o tls fs-12345678:/ /mnt/efs            # with /sbin/mount.efs -> efs-fuse
  fs-12345678:/ /mnt/efs efs _netdev,tls 0 0           # /etc/fstab`

// newRootCmd builds the command tree. The default action is mount; runF
// replaces runMount in tests of argument parsing.
func newRootCmd(name string, deps *mountDeps, runF func(context.Context, *mountOptions) error) *cobra.Command {
	opts := &mountOptions{InvokedAs: name}
	cmd := &cobra.Command{
		Use:           name + " [-o OPTIONS] [-f] [-n] [-s] [-v] [--config PATH] DEVICE MOUNTPOINT",
		Short:         "Mount Amazon EFS over NFSv4.1 and TLS through FUSE",
		Long:          rootLong,
		Example:       rootExample,
		Version:       version,
		Args:          cobra.ArbitraryArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return &mountopts.UsageError{Msg: fmt.Sprintf(
					"Usage: %s [-o OPTIONS] [-f] [-n] [-s] [-v] [--config PATH] DEVICE MOUNTPOINT", name)}
			}
			opts.Device, opts.MountPoint = args[0], args[1]
			opts.ConfigExplicit = cmd.Flags().Changed("config")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMount(cmd.Context(), opts, deps)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &flagError{err: err} })
	f := cmd.Flags()
	f.StringArrayVarP(&opts.Options, "options", "o", nil, "comma-separated mount options (may be repeated)")
	if invokedAsMountHelper(name) {
		f.BoolVarP(&opts.Fake, "fake", "f", false, "fake mount: validate and print, mount nothing (mount(8) -f)")
		f.BoolVar(&opts.Foreground, "foreground", false, "stay in the foreground")
	} else {
		f.BoolVarP(&opts.Foreground, "foreground", "f", false, "stay in the foreground")
		f.BoolVar(&opts.Fake, "fake", false, "fake mount: validate and print, mount nothing")
	}
	f.BoolVarP(&opts.NoMtab, "no-mtab", "n", false, "accepted for mount(8); there is no /etc/mtab to write")
	f.BoolVarP(&opts.Sloppy, "sloppy", "s", false, "sloppy (mount(8) -s): ignore unknown options instead of refusing them")
	f.BoolVarP(&opts.Verbose, "verbose", "v", false, "log at DEBUG level (with -f, on stderr too)")
	f.StringVar(&opts.ConfigPath, "config", efsconfig.DefaultPath, "configuration file (when given, it must exist)")

	cmd.AddCommand(newLocalTargetCmd(), newUnmountCmd(), newTunnelCmd(), newWatchdogCmd(deps), newStatusCmd(deps), newBenchCmd())
	return cmd
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
)

// localTargetOptions holds the parsed flags of `efs-fuse local-target`.
type localTargetOptions struct {
	target     localtarget.Options
	mountpoint string // only used to print the mount command
}

// newLocalTargetCmd builds `efs-fuse local-target`: an EFS-like mount target
// (nfs-ganesha behind a TLS front end) in the foreground, for development,
// demos and tests on one machine.
func newLocalTargetCmd() *cobra.Command {
	opts := &localTargetOptions{}
	cmd := &cobra.Command{
		Use:   "local-target --export DIR --state DIR",
		Short: "Run an EFS-like NFSv4.1-over-TLS mount target on this machine",
		Long: `Runs nfs-ganesha (NFSv4.1, FSAL VFS) exporting --export on a private loopback
port, behind a TLS front end on --listen whose certificate names the file system
(fs-12345678.efs.us-east-1.amazonaws.com) and is signed by a CA kept in --state.
Prints the CA file and the efs-fuse command that mounts it.

Needs root and nfs-ganesha (apt-get install nfs-ganesha nfs-ganesha-vfs). Listens on
loopback only. SIGUSR1 cuts every client connection (fault injection); SIGINT or
SIGTERM stops the front end and ganesha.`,
		Example: `  efs-fuse local-target --export /srv/efs --state /var/lib/efs-fuse-target
  kill -USR1 $(pidof efs-fuse)   # drop all client connections`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true // flags parsed: from here on errors are not usage errors
			log := newLocalTargetLogger(cmd.ErrOrStderr())
			defer log.Sync() //nolint:errcheck // stderr sync errors are meaningless
			opts.target.Logger = log
			return runLocalTarget(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.target.ExportDir, "export", "", "directory to export (created if missing; ext4 or xfs)")
	f.StringVar(&opts.target.StateDir, "state", "", "directory for the CA, certificates, ganesha config and logs (created if missing)")
	f.StringVar(&opts.target.Listen, "listen", localtarget.DefaultListen, "TLS front end address (loopback only)")
	f.StringVar(&opts.target.FSID, "fs-id", localtarget.DefaultFSID, "file system ID named in the server certificate")
	f.StringVar(&opts.target.Region, "region", localtarget.DefaultRegion, "region named in the server certificate")
	f.IntVar(&opts.target.GaneshaPort, "ganesha-port", 0, "ganesha's plain NFS loopback port (0 = any free port)")
	f.StringVar(&opts.mountpoint, "mountpoint", "/mnt/efs", "mount point shown in the printed mount command")
	_ = cmd.MarkFlagRequired("export")
	_ = cmd.MarkFlagRequired("state")
	return cmd
}

// runLocalTarget runs the target until SIGINT/SIGTERM, cutting connections on
// SIGUSR1. It returns an error if ganesha dies on its own.
func runLocalTarget(ctx context.Context, opts *localTargetOptions, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	log := opts.target.Logger
	// Subscribe before starting so no signal is missed in between.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)

	t, err := localtarget.Start(ctx, opts.target)
	if err != nil {
		return err
	}
	defer t.Close()

	fmt.Fprintf(out, "Local EFS mount target %s is running.\n", t.ServerName())
	fmt.Fprintf(out, "  TLS front end: %s\n", t.Addr())
	fmt.Fprintf(out, "  CA file:       %s\n", t.CAFile())
	fmt.Fprintf(out, "  ganesha (plain NFSv4.1, loopback): %s\n", t.NFSAddr())
	fmt.Fprintf(out, "Mount it with:\n  %s\n", t.MountCommand(opts.mountpoint))
	fmt.Fprintf(out, "SIGUSR1 cuts all client connections; Ctrl-C stops the target.\n")

	for {
		select {
		case <-ctx.Done():
			log.Info("stopping local target")
			return t.Close()
		case <-t.Done():
			return fmt.Errorf("ganesha exited unexpectedly; see %s/ganesha.log", opts.target.StateDir)
		case <-usr1:
			n := t.CutConnections()
			fmt.Fprintf(out, "SIGUSR1: cut %d client connection(s)\n", n)
		}
	}
}

// newLocalTargetLogger logs human-readable lines to stderr. The root command
// may later pass its own logger instead.
func newLocalTargetLogger(w io.Writer) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), zapcore.InfoLevel)
	return zap.New(core)
}

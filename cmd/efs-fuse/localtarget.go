package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
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
	iamCreds   string // --iam-credentials: file of keys to verify IAM signatures with
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
SIGTERM stops the front end and ganesha.

Faults are injected into a running target with 'efs-fuse local-target fault'
(through the unix socket control.sock in --state, mode 0600): black-hole or
delay all client traffic for a while, cut connections, or restart ganesha on
the same port, with a real grace period (--grace) in which clients must
reclaim their state. --grace starts ganesha with that grace period from the
beginning; without it ganesha starts graceless, so OPEN works at once.`,
		Example: `  efs-fuse local-target --export /srv/efs --state /var/lib/efs-fuse-target
  kill -USR1 PID                 # drop all client connections (PID: printed at start)
  efs-fuse local-target fault --state /var/lib/efs-fuse-target blackhole 20s
  efs-fuse local-target fault --state /var/lib/efs-fuse-target restart --grace --kill`,
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
	f.BoolVar(&opts.target.Grace, "grace", false, "start ganesha with a grace period (NFS4ERR_GRACE for new state until clients reclaimed or it ends)")
	f.IntVar(&opts.target.GraceSeconds, "grace-seconds", localtarget.DefaultGraceSeconds, "grace period length for --grace and 'fault restart --grace' (1-180)")
	f.BoolVar(&opts.target.RequestClientCert, "client-cert", false, "ask clients for their certificate and log the EFS identity in it (file system, access point, IAM)")
	f.StringVar(&opts.target.RequireAccessPoint, "require-access-point", "", "refuse clients whose certificate does not name this access point (fsap-...)")
	f.BoolVar(&opts.target.RequireIAM, "require-iam", false, "refuse clients whose certificate has no valid IAM signature (verified with --iam-credentials)")
	f.StringVar(&opts.iamCreds, "iam-credentials", "", "AWS shared-credentials file whose key pairs IAM signatures are checked against")
	_ = cmd.MarkFlagRequired("export")
	_ = cmd.MarkFlagRequired("state")
	cmd.AddCommand(newLocalTargetFaultCmd())
	return cmd
}

// newLocalTargetFaultCmd builds `efs-fuse local-target fault`, which sends
// one fault command to a running target through its control socket.
func newLocalTargetFaultCmd() *cobra.Command {
	var stateDir string
	var grace, kill bool
	cmd := &cobra.Command{
		Use:   "fault --state DIR COMMAND [ARGS]",
		Short: "Inject a fault into a running local target",
		Long: `Sends one command to the local target running with --state DIR, through the
unix socket control.sock in that directory. Commands:

` + localtarget.ControlUsage + `

A black hole holds every byte both ways (as a network outage with TCP
retransmission would) and stalls new TLS handshakes; nothing is closed.
Faults end by themselves after their duration; heal ends them early.`,
		Example: `  efs-fuse local-target fault --state /var/lib/efs-fuse-target blackhole 20s
  efs-fuse local-target fault --state /var/lib/efs-fuse-target delay 200ms 30s
  efs-fuse local-target fault --state /var/lib/efs-fuse-target restart --grace
  efs-fuse local-target fault --state /var/lib/efs-fuse-target heal`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			if (grace || kill) && args[0] != "restart" {
				return fmt.Errorf("--grace and --kill apply to restart only")
			}
			if grace {
				args = append(args, "--grace")
			}
			if kill {
				args = append(args, "--kill")
			}
			// Here, not at the target: its reply is one line, and the
			// list of commands reads better as the list it is.
			if err := localtarget.CheckControl(args); err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			reply, err := localtarget.SendControl(ctx, stateDir, args)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), reply)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&stateDir, "state", "", "state directory of the running target")
	f.BoolVar(&grace, "grace", false, "restart: with a grace period in which clients must reclaim")
	f.BoolVar(&kill, "kill", false, "restart: stop ganesha with SIGKILL (a crash) instead of SIGTERM")
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

	if opts.iamCreds != "" {
		creds, err := readIAMCredentials(opts.iamCreds)
		if err != nil {
			return err
		}
		opts.target.IAMCredentials = creds
	}
	t, err := localtarget.Start(ctx, opts.target)
	if err != nil {
		return err
	}
	defer t.Close()
	ctl, err := t.ServeControl()
	if err != nil {
		return err
	}
	defer ctl.Close()

	fmt.Fprintf(out, "Local EFS mount target %s is running.\n", t.ServerName())
	fmt.Fprintf(out, "  TLS front end: %s\n", t.Addr())
	fmt.Fprintf(out, "  CA file:       %s\n", t.CAFile())
	fmt.Fprintf(out, "  ganesha (plain NFSv4.1, loopback): %s\n", t.NFSAddr())
	fmt.Fprintf(out, "Mount it with:\n  %s\n", t.MountCommand(opts.mountpoint))
	// The target's own pid: `pidof efs-fuse` would also name every
	// mount's serving process and the watchdog.
	fmt.Fprintf(out, "kill -USR1 %d cuts all client connections; Ctrl-C stops the target.\n", os.Getpid())
	fmt.Fprintf(out, "Faults: efs-fuse local-target fault --state %s blackhole 20s|delay 200ms 30s|restart [--grace] [--kill]|heal\n", opts.target.StateDir)

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

// readIAMCredentials reads the key pairs of an AWS shared-credentials file
// (any number of [profile] sections with aws_access_key_id and
// aws_secret_access_key) for the local target to verify IAM signatures
// with. Secrets are never logged; errors name the file and line only.
func readIAMCredentials(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--iam-credentials: %w", err)
	}
	creds := map[string]string{}
	var id, secret string
	flush := func() {
		if id != "" && secret != "" {
			creds[id] = secret
		}
		id, secret = "", ""
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			flush()
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("--iam-credentials: %s line %d: not key = value", path, i+1)
			}
			switch strings.TrimSpace(k) {
			case "aws_access_key_id":
				id = strings.TrimSpace(v)
			case "aws_secret_access_key":
				secret = strings.TrimSpace(v)
			}
		}
	}
	flush()
	if len(creds) == 0 {
		return nil, fmt.Errorf("--iam-credentials: %s has no aws_access_key_id with its aws_secret_access_key", path)
	}
	return creds, nil
}

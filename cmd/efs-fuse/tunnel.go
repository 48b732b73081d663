package main

import (
	"github.com/spf13/cobra"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/fallback"
	"github.com/efs-fuse/efs-fuse/internal/inheritedfd"
)

// newTunnelCmd builds `efs-fuse tunnel`: the local TLS relay of fallback
// mode, one process per mount, as the helper runs one stunnel per mount.
// Mounts start it themselves and record its argv in the state file, from
// which the watchdog restarts it.
func newTunnelCmd() *cobra.Command {
	var o fallback.TunnelOptions
	cmd := &cobra.Command{
		Use:   "tunnel --listen 127.0.0.1:PORT --target HOST:2049 --server-name NAME [--cafile PATH] [--netns PATH] [--fs-id FS-ID [--access-point AP] [--iam ...]]",
		Short: "Relay local NFS connections to an EFS mount target over TLS (fallback mode)",
		Long: `Accepts plain TCP connections on --listen (loopback) and relays each one over
its own TLS connection to --target, verifying the server exactly as FUSE mode
does: the chain against --cafile (--verify 0 disables it) and --server-name,
which is also sent as SNI (--no-check-hostname checks the chain only).

The kernel NFS client mounts 127.0.0.1:/ with port=PORT through it. A
connection idle in both directions for --idle-timeout is closed; when the
target drops a connection the local one is closed too, and the kernel client
reconnects and replays. Connections that send nothing (port probes) never
reach the target.

With --netns (the mount's netns= option) every connection to --target is
made from inside that network namespace, as the helper runs stunnel under
nsenter --net; --listen stays in the tunnel's own namespace, where the
kernel client mounts it.

The client certificate: with --fs-id the tunnel makes the EFS client
certificate itself (file system, --access-point, and with --iam a signature
made with AWS credentials from --awsprofile, --awscredsuri, --rolearn and
--jwtpath or the default chain) from the key at --key, renews it every
--cert-renewal and writes the current one to --cert-out. Every new connection
presents the current certificate; live ones keep theirs. Alternatively --cert
and --key name an external certificate.

Signals: SIGHUP renews the certificate now (--fs-id) or re-reads --cert/--key,
for new connections; SIGTERM or SIGINT closes every connection and exits 0.`,
		Example: `  efs-fuse tunnel --listen 127.0.0.1:20407 --target 10.0.0.12:2049 \
    --server-name fs-12345678.efs.us-east-1.amazonaws.com --cafile /etc/amazon/efs/efs-utils.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true // flags parsed: later errors are not usage errors
			// The tunnel outlives the mount command that started it: it
			// must not keep that command's descriptors open.
			_, _ = inheritedfd.CloseInherited()
			d := efsconfig.Default()
			log, closeLog, err := fallback.NewTunnelLogger(o, d.Default.LoggingMaxBytes, d.Default.LoggingFileCount)
			if err != nil {
				return err
			}
			defer closeLog()
			if err := fallback.RunTunnel(cmd.Context(), o, log); err != nil {
				log.Error(err.Error())
				return err
			}
			return nil
		},
	}
	fallback.TunnelFlags(cmd.Flags(), &o)
	o.Version = version
	_ = cmd.MarkFlagRequired("listen")
	_ = cmd.MarkFlagRequired("target")
	_ = cmd.MarkFlagRequired("server-name")
	return cmd
}

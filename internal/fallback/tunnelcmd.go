package fallback

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/efs-fuse/efs-fuse/internal/iamauth"
	"github.com/efs-fuse/efs-fuse/internal/logging"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

// TunnelOptions are the flags of `efs-fuse tunnel`. TunnelArgv writes them
// and TunnelFlags reads them: one definition, so the argv kept in state
// files always parses.
//
// The client certificate comes from one of two places. With FSID set the
// tunnel owns the mount's EFS client identity: it makes the certificate
// (access point, IAM signature) from the key at KeyFile, renews it every
// CertRenewal and on SIGHUP, and presents the current one on every upstream
// handshake; a restarted tunnel issues a fresh one. Otherwise CertFile and
// KeyFile name an external certificate, re-read on SIGHUP.
type TunnelOptions struct {
	Listen          string // 127.0.0.1:PORT
	Target          string // HOST:2049
	ServerName      string
	CAFile          string
	Verify          int
	NoCheckHostname bool
	IdleTimeout     time.Duration
	CertFile        string // external client certificate PEM; re-read on SIGHUP
	KeyFile         string // its key; with FSID, the key certificates are made with ("" = tunnel.DefaultKeyPath)
	LogFile         string // "" = stderr
	LogLevel        string
	// NetNS is the mount's netns=: the tunnel dials the target from inside
	// that network namespace and still listens in its own.
	NetNS string

	// The EFS client identity the tunnel makes itself (EFS-FACTS section 4).
	FSID        string        // file system the certificate is for; "" = no identity
	AccessPoint string        // accesspoint=
	IAM         bool          // sign with AWS credentials (iam)
	AWSProfile  string        // awsprofile=
	AWSCredsURI string        // awscredsuri=
	RoleARN     string        // rolearn=
	JWTPath     string        // jwtpath=
	Region      string        // the mount's region: the IAM signature's scope
	CertRenewal time.Duration // renewal interval; 0 = tunnel.DefaultRenewEvery
	CertOut     string        // also write the current certificate here (PEM, 0600); "" = nowhere
	// Version goes in the certificate's client info. Not a flag: the
	// binary running the tunnel sets its own.
	Version string
}

// TunnelFlags registers the tunnel flags on fs.
func TunnelFlags(fs *pflag.FlagSet, o *TunnelOptions) {
	fs.StringVar(&o.Listen, "listen", "", "local address to accept the NFS client on (127.0.0.1:PORT)")
	fs.StringVar(&o.Target, "target", "", "mount target to relay to (HOST:2049)")
	fs.StringVar(&o.ServerName, "server-name", "", "name to verify in the target's certificate and send as SNI")
	fs.StringVar(&o.CAFile, "cafile", "", "CA bundle to verify the target with (default: system roots)")
	fs.IntVar(&o.Verify, "verify", tunnel.DefaultVerify, "certificate verification level: 0 none, 1-2 verify the chain")
	fs.BoolVar(&o.NoCheckHostname, "no-check-hostname", false, "verify the chain only, not the name")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", tunnel.DefaultIdleTimeout, "close connections idle this long (stunnel TIMEOUTidle)")
	fs.StringVar(&o.CertFile, "cert", "", "external client certificate to present (PEM); re-read on SIGHUP")
	fs.StringVar(&o.KeyFile, "key", "", "private key of --cert; with --fs-id, the key to make certificates with (default "+tunnel.DefaultKeyPath+")")
	fs.StringVar(&o.LogFile, "log-file", "", "log to this file, rotated per the config file (default: stderr)")
	fs.StringVar(&o.LogLevel, "log-level", "INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL")
	fs.StringVar(&o.NetNS, "netns", "", "dial the target from this network namespace (/proc/PID/ns/net, /var/run/netns/NAME); --listen stays in the tunnel's own")
	fs.StringVar(&o.FSID, "fs-id", "", "make and renew the EFS client certificate for this file system")
	fs.StringVar(&o.AccessPoint, "access-point", "", "access point ID to put in the client certificate")
	fs.BoolVar(&o.IAM, "iam", false, "sign the client certificate with AWS credentials (IAM authorization)")
	fs.StringVar(&o.AWSProfile, "awsprofile", "", "with --iam: named profile of the AWS shared files")
	fs.StringVar(&o.AWSCredsURI, "awscredsuri", "", "with --iam: ECS credentials path")
	fs.StringVar(&o.RoleARN, "rolearn", "", "with --iam: role to assume with the --jwtpath token")
	fs.StringVar(&o.JWTPath, "jwtpath", "", "with --iam: web identity token file")
	fs.StringVar(&o.Region, "region", "", "region of the file system (scope of the IAM signature)")
	fs.DurationVar(&o.CertRenewal, "cert-renewal", 0, "renew the client certificate this often (default 1h, at most 2h)")
	fs.StringVar(&o.CertOut, "cert-out", "", "write the current client certificate here (PEM, mode 0600)")
}

// TunnelArgv is the command line that runs a tunnel with o.
func TunnelArgv(exe string, o TunnelOptions) []string {
	argv := []string{exe, "tunnel", "--listen", o.Listen, "--target", o.Target, "--server-name", o.ServerName}
	if o.CAFile != "" {
		argv = append(argv, "--cafile", o.CAFile)
	}
	argv = append(argv, "--verify", strconv.Itoa(o.Verify))
	if o.NoCheckHostname {
		argv = append(argv, "--no-check-hostname")
	}
	if o.IdleTimeout != 0 {
		argv = append(argv, "--idle-timeout", o.IdleTimeout.String())
	}
	str := func(flag, v string) {
		if v != "" {
			argv = append(argv, flag, v)
		}
	}
	str("--netns", o.NetNS)
	str("--cert", o.CertFile)
	str("--key", o.KeyFile)
	str("--fs-id", o.FSID)
	str("--access-point", o.AccessPoint)
	if o.IAM {
		argv = append(argv, "--iam")
	}
	str("--awsprofile", o.AWSProfile)
	str("--awscredsuri", o.AWSCredsURI)
	str("--rolearn", o.RoleARN)
	str("--jwtpath", o.JWTPath)
	str("--region", o.Region)
	if o.CertRenewal != 0 {
		argv = append(argv, "--cert-renewal", o.CertRenewal.String())
	}
	str("--cert-out", o.CertOut)
	str("--log-file", o.LogFile)
	str("--log-level", o.LogLevel)
	return argv
}

func (o TunnelOptions) check() error {
	switch {
	case o.Listen == "":
		return errors.New("tunnel: --listen is required")
	case o.Target == "":
		return errors.New("tunnel: --target is required")
	case o.FSID != "" && o.CertFile != "":
		return errors.New("tunnel: --cert (an external client certificate) and --fs-id (a certificate the tunnel makes) are mutually exclusive")
	case o.FSID == "" && (o.CertFile == "") != (o.KeyFile == ""):
		return errors.New("tunnel: --cert and --key go together")
	case o.FSID == "" && (o.AccessPoint != "" || o.IAM || o.Region != "" || o.CertRenewal != 0 || o.CertOut != ""):
		return errors.New("tunnel: --access-point, --iam, --region, --cert-renewal and --cert-out need --fs-id")
	case !o.IAM && (o.AWSProfile != "" || o.AWSCredsURI != "" || o.RoleARN != "" || o.JWTPath != ""):
		return errors.New("tunnel: --awsprofile, --awscredsuri, --rolearn and --jwtpath need --iam")
	case o.CertRenewal < 0:
		return fmt.Errorf("tunnel: --cert-renewal %v is negative", o.CertRenewal)
	}
	return nil
}

// newIdentity makes the EFS client identity o describes (o.FSID set): the
// certificate the tunnel started with o presents. writeCert also writes it
// to o.CertOut. Errors carry the mount helper's wording, as FUSE mode's.
func newIdentity(ctx context.Context, o TunnelOptions, writeCert bool, log *zap.Logger) (*tunnel.Identity, error) {
	var signer *iamauth.Signer
	if o.IAM {
		var err error
		signer, err = iamauth.New(ctx, iamauth.Config{
			SourceConfig: iamauth.SourceConfig{
				Profile: o.AWSProfile, CredsURI: o.AWSCredsURI, RoleARN: o.RoleARN, JWTPath: o.JWTPath, Region: o.Region,
			},
			FileSystemID: o.FSID,
		})
		if err != nil {
			return nil, fmt.Errorf("Failed to set up IAM authorization: %w", err)
		}
	}
	cfg := tunnel.IdentityConfig{
		FSID:        o.FSID,
		AccessPoint: o.AccessPoint,
		KeyPath:     o.KeyFile,
		IAM:         signer,
		RenewEvery:  o.CertRenewal,
		Version:     o.Version,
		Logger:      log.Named("identity"),
	}
	if writeCert && o.CertOut != "" {
		// The directory is the mount's own (<state file>+), made here so a
		// tunnel restarted by the watchdog needs nothing else.
		if err := os.MkdirAll(filepath.Dir(o.CertOut), 0o700); err != nil {
			return nil, fmt.Errorf("Failed to create the TLS client certificate: %w", err)
		}
		cfg.CertFile = o.CertOut
	}
	id, err := tunnel.NewIdentity(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("Failed to create the TLS client certificate: %w", err)
	}
	return id, nil
}

// NewTunnelLogger logs to o.LogFile (rotated as mount.log is) or, without
// one, to stderr in the same line format.
func NewTunnelLogger(o TunnelOptions, maxBytes int64, fileCount int) (*zap.Logger, func(), error) {
	if o.LogFile == "" {
		lvl, err := logging.ParseLevel(o.LogLevel)
		if err != nil {
			return nil, nil, err
		}
		return zap.New(zapcoreStderr(lvl)), func() {}, nil
	}
	return logging.New(logging.LogConfig{
		Dir: filepath.Dir(o.LogFile), FileName: filepath.Base(o.LogFile),
		Level: o.LogLevel, MaxBytes: maxBytes, FileCount: fileCount,
	})
}

// RunTunnel runs the relay in the foreground until ctx ends or SIGTERM or
// SIGINT arrives (then it closes every connection and returns nil). SIGHUP
// renews the client identity now (with --fs-id) or re-reads the external
// client certificate, for new connections.
func RunTunnel(ctx context.Context, o TunnelOptions, log *zap.Logger) error {
	if err := o.check(); err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	// Subscribe before listening, so a signal sent as soon as the port
	// answers is never lost.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg := tunnel.RelayConfig{
		Target: tunnel.Config{
			Addr: o.Target, ServerName: o.ServerName, CAFile: o.CAFile,
			Verify: o.Verify, CheckHostname: !o.NoCheckHostname, NetNS: o.NetNS,
		},
		IdleTimeout: o.IdleTimeout,
		Logger:      log,
	}
	var id *tunnel.Identity
	switch {
	case o.FSID != "":
		var err error
		if id, err = newIdentity(ctx, o, true, log); err != nil {
			return err
		}
		cfg.Target.ClientCertificate = id.Certificate // asked on every upstream handshake
		// The renewal loop is ours: ended and waited for on every return.
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { id.Run(rctx) })
		defer wg.Wait()
		defer cancel()
	case o.CertFile != "":
		cfg.LoadClientCertificate = func() (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", o.CertFile, o.KeyFile, err)
			}
			return &c, nil
		}
	}
	r, err := tunnel.ListenRelay(o.Listen, cfg)
	if err != nil {
		return err
	}
	log.Info("tunnel started", zap.Int("pid", os.Getpid()), zap.String("fs_id", o.FSID),
		zap.String("access_point", o.AccessPoint), zap.Bool("iam", o.IAM))
	for {
		select {
		case <-hup:
			if id == nil {
				_ = r.Reload() // logged by Reload; the old certificate stays
				continue
			}
			if err := id.Renew(ctx); err != nil && ctx.Err() == nil {
				log.Warn("client certificate renewal on SIGHUP failed; new connections keep the current certificate", zap.Error(err))
			}
		case <-ctx.Done():
			log.Info("tunnel stopping")
			return r.Close()
		}
	}
}

// zapcoreStderr writes the helper's line format to stderr.
func zapcoreStderr(lvl zapcore.Level) zapcore.Core {
	return zapcore.NewCore(logging.NewEncoder(), zapcore.Lock(os.Stderr), lvl)
}

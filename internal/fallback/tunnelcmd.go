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
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/efs-fuse/efs-fuse/internal/logging"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

// TunnelOptions are the flags of `efs-fuse tunnel`. TunnelArgv writes them
// and TunnelFlags reads them: one definition, so the argv kept in state
// files always parses.
type TunnelOptions struct {
	Listen          string // 127.0.0.1:PORT
	Target          string // HOST:2049
	ServerName      string
	CAFile          string
	Verify          int
	NoCheckHostname bool
	IdleTimeout     time.Duration
	CertFile        string // client certificate PEM; re-read on SIGHUP
	KeyFile         string
	LogFile         string // "" = stderr
	LogLevel        string
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
	fs.StringVar(&o.CertFile, "cert", "", "client certificate to present (PEM); re-read on SIGHUP")
	fs.StringVar(&o.KeyFile, "key", "", "private key of --cert (PEM)")
	fs.StringVar(&o.LogFile, "log-file", "", "log to this file, rotated per the config file (default: stderr)")
	fs.StringVar(&o.LogLevel, "log-level", "INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL")
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
	if o.CertFile != "" {
		argv = append(argv, "--cert", o.CertFile, "--key", o.KeyFile)
	}
	if o.LogFile != "" {
		argv = append(argv, "--log-file", o.LogFile)
	}
	if o.LogLevel != "" {
		argv = append(argv, "--log-level", o.LogLevel)
	}
	return argv
}

func (o TunnelOptions) check() error {
	switch {
	case o.Listen == "":
		return errors.New("tunnel: --listen is required")
	case o.Target == "":
		return errors.New("tunnel: --target is required")
	case (o.CertFile == "") != (o.KeyFile == ""):
		return errors.New("tunnel: --cert and --key go together")
	}
	return nil
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
// re-reads the client certificate for new connections.
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
			Verify: o.Verify, CheckHostname: !o.NoCheckHostname,
		},
		IdleTimeout: o.IdleTimeout,
		Logger:      log,
	}
	if o.CertFile != "" {
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
	log.Info("tunnel started", zap.Int("pid", os.Getpid()))
	for {
		select {
		case <-hup:
			_ = r.Reload() // logged by Reload; the old certificate stays
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

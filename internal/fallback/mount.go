package fallback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/detached"
	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/logging"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/internal/mountstate"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

// tunnelReadyTimeout bounds the wait for a new tunnel to accept.
const tunnelReadyTimeout = 10 * time.Second

// Mounter mounts in fallback mode. Zero fields take real defaults.
type Mounter struct {
	// Exe is the efs-fuse binary the tunnel runs as; "" = this executable.
	Exe string
	// LogDir receives the tunnel's log (<state file name>.tunnel.log);
	// "" = the state directory.
	LogDir string
	// Version goes in the client certificate's client info.
	Version string
	// Unprivileged: the mounting user is not root of the host, and keeps
	// a key of its own in the state directory instead of sharing efs-utils'
	// host key (as FUSE mode does).
	Unprivileged bool
	// KeyFile overrides the key client certificates are made with; "" =
	// the above.
	KeyFile string
	Start   detached.StartFunc // default detached.Start
	Exec    ExecFunc           // default Exec (mount.nfs4)
	Retry   Retry
	Shuffle func([]int) // port order; default random
	Now     func() time.Time
}

// Mount mounts req and returns once mount.nfs4 has succeeded, leaving the
// tunnel running and its state file written. On failure it stops the
// tunnel and removes what it wrote. It logs the helper's
// "Successfully mounted <dns name> at <mount point>" line.
func (m *Mounter) Mount(ctx context.Context, req *mountopts.MountRequest) error {
	log := req.Logger
	if log == nil {
		log = zap.NewNop()
	}
	for _, w := range req.Options.Warnings() {
		log.Warn(w)
	}
	// A bad netns= fails here, with its reason, rather than in the tunnel
	// or mount.nfs4.
	if err := tunnel.CheckNetNS(req.Options.NetNS); err != nil {
		return err
	}
	if !req.Options.TLS {
		// The command has warned that this is clear text (stderr and log).
		if err := m.mountNFS(ctx, req, 0, log); err != nil {
			return err
		}
		log.Info(fmt.Sprintf("Successfully mounted %s at %s", req.Target.DNSName, req.MountPoint))
		return nil
	}
	cfg := req.Config
	if cfg == nil {
		cfg = efsconfig.Default()
	}
	if err := logging.EnsureDir(req.StateDir, cfg.Default.StateFileDirMode); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	// The tunnel makes and renews the client certificate itself. Make it
	// once here first, from the same options: a bad IAM setup then fails
	// the mount with its reason instead of a tunnel that dies later. It
	// also creates the host key, once, outside the tunnel.
	idOpts := m.identityOptions(req, cfg)
	if _, err := newIdentity(ctx, idOpts, false, log); err != nil {
		return err
	}
	ln, err := SelectPort(PortRequest{
		Fixed: req.Options.TLSPort, Lower: cfg.Mount.PortRangeLowerBound, Upper: cfg.Mount.PortRangeUpperBound,
		StateDir: req.StateDir, ConfigPath: cfg.Path, Shuffle: m.Shuffle, Logger: log,
	})
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	name := mountstate.FallbackFileName(req.FSID, req.MountPoint, port)
	st, topts := m.newState(req, cfg, idOpts, name, port)
	// The ~ file claims the port from here on; then the bind can go.
	cleanup := func() {
		os.Remove(filepath.Join(req.StateDir, mountstate.TempPrefix+name))
		os.RemoveAll(filepath.Dir(topts.CertOut)) // written by the tunnel, if it got that far
	}
	if err := mountstate.Write(req.StateDir, mountstate.TempPrefix+name, st); err != nil {
		ln.Close()
		return err
	}
	ln.Close()

	start := m.Start
	if start == nil {
		start = detached.Start
	}
	tun, err := start(st.Cmd, topts.LogFile)
	if err != nil {
		cleanup()
		return err
	}
	fail := func(err error) error {
		if serr := tun.Stop(); serr != nil {
			log.Warn("stopping the tunnel after a failed mount", zap.Error(serr))
		}
		cleanup()
		return err
	}
	st.PID = tun.Pid()
	if st.PIDStart, err = mountstate.ProcessStart(st.PID); err != nil {
		return fail(err)
	}
	if err := mountstate.Write(req.StateDir, mountstate.TempPrefix+name, st); err != nil {
		return fail(err)
	}
	log.Info("tunnel started", zap.Int("pid", st.PID), zap.Int("port", port), zap.String("target", req.Target.DialAddr))
	if err := waitAccepting(ctx, port, tun, topts.LogFile); err != nil {
		return fail(err)
	}
	if err := m.mountNFS(ctx, req, port, log); err != nil {
		return fail(withTunnelError(err, topts.LogFile))
	}
	// No fields on this line: users grep for it exactly.
	log.Info(fmt.Sprintf("Successfully mounted %s at %s", req.Target.DNSName, req.MountPoint))
	st.MountTime = m.now()
	if err := mountstate.Write(req.StateDir, mountstate.TempPrefix+name, st); err != nil {
		log.Error("mounted, but the state file could not be written: the watchdog will not supervise this tunnel", zap.Error(err))
		return nil // unmounting now would hurt more than an unsupervised tunnel
	}
	if err := os.Rename(filepath.Join(req.StateDir, mountstate.TempPrefix+name), filepath.Join(req.StateDir, name)); err != nil {
		log.Error("mounted, but the state file could not be renamed", zap.Error(err))
	}
	return nil
}

func (m *Mounter) mountNFS(ctx context.Context, req *mountopts.MountRequest, port int, log *zap.Logger) error {
	run := m.Exec
	if run == nil {
		run = Exec
	}
	argv := MountArgs(req, port)
	log.Debug("running mount.nfs4", zap.Strings("argv", argv), zap.String("netns", req.Options.NetNS))
	return RunMountNFS(ctx, inNetNS(req, run), argv, req.Target.DNSName, m.Retry, log)
}

// inNetNS runs mount.nfs4 in the netns= namespace, as the helper's
// `nsenter --net=PATH mount.nfs4`, when the kernel client connects to the
// mount target itself (notls): it connects from the namespace mount(2) is
// called in. With TLS it connects to our tunnel on this namespace's
// loopback, and the tunnel dials the target from the namespace instead.
func inNetNS(req *mountopts.MountRequest, run ExecFunc) ExecFunc {
	path := req.Options.NetNS
	if path == "" || req.Options.TLS {
		return run
	}
	return func(ctx context.Context, argv []string) (string, error) {
		var stderr string
		// The child is forked from the calling thread, which is in the namespace.
		err := tunnel.InNetNS(path, func() (err error) {
			stderr, err = run(ctx, argv)
			return err
		})
		return stderr, err
	}
}

// identityOptions are the tunnel options that make req's client
// certificate: fs-id, access point, IAM source, key, renewal interval.
func (m *Mounter) identityOptions(req *mountopts.MountRequest, cfg *efsconfig.Config) TunnelOptions {
	o := req.Options
	key := m.KeyFile
	switch {
	case key != "":
	case m.Unprivileged:
		key = filepath.Join(req.StateDir, "privateKey.pem")
	default:
		key = tunnel.DefaultKeyPath
	}
	t := TunnelOptions{
		FSID:        req.FSID,
		AccessPoint: o.AccessPoint,
		IAM:         o.IAM,
		Region:      req.Target.Region,
		KeyFile:     key,
		CertRenewal: time.Duration(cfg.Watchdog.TLSCertRenewalIntervalMin) * time.Minute,
		Version:     m.Version,
	}
	if o.IAM {
		t.AWSProfile, t.AWSCredsURI, t.RoleARN, t.JWTPath = o.AWSProfile, o.AWSCredsURI, o.RoleARN, o.JWTPath
	}
	return t
}

// newState builds the state file and the tunnel's options for req; idOpts
// come from identityOptions.
func (m *Mounter) newState(req *mountopts.MountRequest, cfg *efsconfig.Config, idOpts TunnelOptions, name string, port int) (*mountstate.Fallback, TunnelOptions) {
	o := req.Options
	exe := m.Exe
	if exe == "" {
		if p, err := os.Executable(); err == nil {
			exe = p
		} else {
			exe = "efs-fuse"
		}
	}
	logDir := m.LogDir
	if logDir == "" {
		logDir = req.StateDir
	}
	certDir := mountstate.CertDir(req.StateDir, name)
	topts := idOpts
	topts.Listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	topts.Target = req.Target.DialAddr
	topts.ServerName = req.Target.ServerName
	topts.CAFile = cfg.CAFile(req.Target.Region)
	topts.Verify = 2
	topts.NoCheckHostname = !cfg.Mount.StunnelCheckCertHostname
	topts.CertOut = filepath.Join(certDir, "certificate.pem")
	topts.LogFile = filepath.Join(logDir, name+".tunnel.log")
	topts.LogLevel = cfg.Default.LoggingLevel
	topts.NetNS = o.NetNS
	if o.CAFile != "" {
		topts.CAFile = o.CAFile
	}
	if o.Verify != nil {
		topts.Verify = *o.Verify
	}
	st := &mountstate.Fallback{
		Cmd:         TunnelArgv(exe, topts),
		Files:       []string{topts.LogFile, certDir},
		MountTime:   m.now(),
		MountPoint:  req.MountPoint,
		FSID:        req.FSID,
		Region:      req.Target.Region,
		Mode:        mountstate.ModeFallback,
		DNSName:     req.Target.DNSName,
		Port:        port,
		Certificate: topts.CertOut,
		PrivateKey:  topts.KeyFile,
		AccessPoint: o.AccessPoint,
		UseIAM:      o.IAM,
	}
	return st, topts
}

func (m *Mounter) now() float64 {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	return float64(now().UnixNano()) / 1e9
}

// waitAccepting waits until the tunnel's port accepts a connection. The
// connection is closed without a byte: the relay treats it as a probe and
// dials nothing.
func waitAccepting(ctx context.Context, port int, tun detached.Process, logFile string) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ctx, cancel := context.WithTimeout(ctx, tunnelReadyTimeout)
	defer cancel()
	for {
		if tun.Exited() {
			return fmt.Errorf("the tunnel process exited before accepting connections on %s; see %s", addr, logFile)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the tunnel did not accept connections on %s within %v; see %s", addr, tunnelReadyTimeout, logFile)
			}
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

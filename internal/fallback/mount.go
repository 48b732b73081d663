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

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/logging"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

// tunnelReadyTimeout bounds the wait for a new tunnel to accept.
const tunnelReadyTimeout = 10 * time.Second

// Mounter mounts in port-based mode. Zero fields take real defaults.
type Mounter struct {
	// Exe is the efs-fuse binary the tunnel runs as; "" = this executable.
	Exe string
	// LogDir receives the tunnel's log (<state file name>.tunnel.log);
	// "" = the state directory.
	LogDir string
	// CertFile and KeyFile are the client certificate the tunnel presents
	// ("" = none). Making them (EFS identity) is not this package's job.
	CertFile, KeyFile string
	Start             StartFunc // default StartProcess
	Exec              ExecFunc  // default Exec (mount.nfs4)
	Retry             Retry
	Shuffle           func([]int) // port order; default random
	Now               func() time.Time
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
	if !req.Options.TLS {
		log.Warn("mounting without TLS: NFS traffic is not encrypted")
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
	ln, err := SelectPort(PortRequest{
		Fixed: req.Options.TLSPort, Lower: cfg.Mount.PortRangeLowerBound, Upper: cfg.Mount.PortRangeUpperBound,
		StateDir: req.StateDir, ConfigPath: cfg.Path, Shuffle: m.Shuffle, Logger: log,
	})
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	name := StateFileName(req.FSID, req.MountPoint, port)
	st, topts := m.newState(req, cfg, name, port)
	// The ~ file claims the port from here on; then the bind can go.
	cleanup := func() { os.Remove(filepath.Join(req.StateDir, tempPrefix+name)) }
	if err := WriteState(req.StateDir, tempPrefix+name, st); err != nil {
		ln.Close()
		return err
	}
	ln.Close()

	start := m.Start
	if start == nil {
		start = StartProcess
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
	if err := WriteState(req.StateDir, tempPrefix+name, st); err != nil {
		return fail(err)
	}
	log.Info("tunnel started", zap.Int("pid", st.PID), zap.Int("port", port), zap.String("target", req.Target.DialAddr))
	if err := waitAccepting(ctx, port, tun, topts.LogFile); err != nil {
		return fail(err)
	}
	if err := m.mountNFS(ctx, req, port, log); err != nil {
		return fail(err)
	}
	// No fields on this line: users grep for it exactly.
	log.Info(fmt.Sprintf("Successfully mounted %s at %s", req.Target.DNSName, req.MountPoint))
	st.MountTime = m.now()
	if err := WriteState(req.StateDir, tempPrefix+name, st); err != nil {
		log.Error("mounted, but the state file could not be written: the watchdog will not supervise this tunnel", zap.Error(err))
		return nil // unmounting now would hurt more than an unsupervised tunnel
	}
	if err := os.Rename(filepath.Join(req.StateDir, tempPrefix+name), filepath.Join(req.StateDir, name)); err != nil {
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
	log.Debug("running mount.nfs4", zap.Strings("argv", argv))
	return RunMountNFS(ctx, run, argv, req.Target.DNSName, m.Retry, log)
}

// newState builds the state file and the tunnel's options for req.
func (m *Mounter) newState(req *mountopts.MountRequest, cfg *efsconfig.Config, name string, port int) (*State, TunnelOptions) {
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
	topts := TunnelOptions{
		Listen:          net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Target:          req.Target.DialAddr,
		ServerName:      req.Target.ServerName,
		CAFile:          cfg.CAFile(req.Target.Region),
		Verify:          2,
		NoCheckHostname: !cfg.Mount.StunnelCheckCertHostname,
		CertFile:        m.CertFile,
		KeyFile:         m.KeyFile,
		LogFile:         filepath.Join(logDir, name+".tunnel.log"),
		LogLevel:        cfg.Default.LoggingLevel,
	}
	if o.CAFile != "" {
		topts.CAFile = o.CAFile
	}
	if o.Verify != nil {
		topts.Verify = *o.Verify
	}
	st := &State{
		Cmd:         TunnelArgv(exe, topts),
		Files:       []string{topts.LogFile},
		MountTime:   m.now(),
		MountPoint:  req.MountPoint,
		FSID:        req.FSID,
		Region:      req.Target.Region,
		Mode:        ModeTunnel,
		DNSName:     req.Target.DNSName,
		Port:        port,
		Certificate: m.CertFile,
		PrivateKey:  m.KeyFile,
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
func waitAccepting(ctx context.Context, port int, tun Tunnel, logFile string) error {
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

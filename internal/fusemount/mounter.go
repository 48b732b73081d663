// Package fusemount assembles a FUSE-mode mount from a resolved
// MountRequest: the TLS dialer (tunnel), the NFSv4.1 session (nfsclient)
// and the FUSE filesystem (fusefs), and tears them down in the one order
// that loses nothing: FUSE, flush, CLOSE, DESTROY, connection.
package fusemount

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/fusefs"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/internal/mountstate"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

// connectTimeout bounds session bring-up at mount time: a mount that
// cannot reach its server must fail with a reason, not hang the shell.
const connectTimeout = 30 * time.Second

// teardownTimeout bounds DESTROY_SESSION and friends after unmount.
const teardownTimeout = 10 * time.Second

// Mounter mounts in FUSE mode.
type Mounter struct {
	// Version is reported in the TLS client certificate's client-info.
	Version string
	// RemountCmd is the command line the watchdog runs to mount this file
	// system again after the serving process died; nil derives it from
	// this process's own (RemountArgv). A state file is written only when
	// the request has a StateDir.
	RemountCmd []string
}

// Mount implements mountopts.Mounter: it blocks until the filesystem is
// unmounted (by umount, fusermount3 -u, efs-fuse unmount) or ctx ends.
func (m Mounter) Mount(ctx context.Context, req *mountopts.MountRequest, ready func()) error {
	log := req.Logger
	if log == nil {
		log = zap.NewNop()
	}
	for _, w := range req.Options.Warnings() {
		log.Warn(w)
	}
	id, err := MountIdentity()
	if err != nil {
		return fmt.Errorf("Failed to determine the mounting user: %w", err)
	}
	cred := id.Cred
	var cert func() (*tls.Certificate, error)
	if req.Options.TLS {
		ident, err := startTLSIdentity(ctx, req, id, m.Version, log)
		if err != nil {
			return err
		}
		defer ident.stop()
		cert = ident.id.Certificate
	}
	dial, err := m.dialer(req, log, cert)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	host, _ := os.Hostname()
	// The filesystem exists only after the session does, but recovery
	// must reach its open files: the hook looks it up when it runs.
	var fsrv atomic.Pointer[fusefs.Server]
	client, err := nfsclient.Dial(cctx, nfsclient.Config{
		Dial:        dial,
		Timeout:     softTimeout(req.Options.Settings()),
		Connections: req.Options.Settings().NConnect,
		Reclaim: func(ctx context.Context, r *nfsclient.Reclaimer) error {
			if s := fsrv.Load(); s != nil {
				return s.Reclaim(ctx, r)
			}
			return nil
		},
		Revoked: func(ctx context.Context) {
			if s := fsrv.Load(); s != nil {
				s.CheckRevoked(ctx)
			}
		},
		// Stable across restarts of the same mount, distinct between
		// mounts, so the server drops a crashed predecessor's state.
		OwnerID: fmt.Sprintf("efs-fuse/%s/%s/%s", host, req.FSID, req.MountPoint),
		Logger:  log.Named("nfs"),
	})
	if err != nil {
		return connectError(req, err)
	}
	defer closeSession(client, log)

	rootFH, rootAttr, err := client.LookupPath(cctx, cred, req.Path)
	if err != nil {
		return lookupError(req, err)
	}
	if rootAttr.Type != nfsclient.TypeDir {
		return fmt.Errorf("Failed to mount %s:%s: not a directory", req.FSID, req.Path)
	}
	var srv *fusefs.Server
	stderr, err := captureStderr(func() (err error) {
		srv, err = fusefs.Mount(req.MountPoint, fuseOptions(req, client, rootFH, rootAttr, id, log))
		return err
	})
	if err != nil {
		return fusermountError(req.MountPoint, stderr, err)
	}
	fsrv.Store(srv)
	if req.StateDir != "" {
		keeper, err := startStateKeeper(req.StateDir, m.state(req), client, log)
		if err != nil {
			// The mount works; only supervision is lost. Say so loudly.
			log.Error("mounted, but the state file could not be written: the watchdog will not supervise this mount", zap.Error(err))
		} else {
			defer keeper.stop()
		}
	}
	ready()

	done := make(chan struct{})
	go func() {
		srv.Wait()
		close(done)
	}()
	select {
	case <-done:
		// Unmounted from outside; the kernel released every handle first.
	case <-ctx.Done():
		log.Info("unmounting on signal")
		if err := srv.Unmount(); err != nil {
			log.Error("unmount failed", zap.Error(err))
		}
		<-done
	}
	err = srv.Close()
	log.Info("unmounted; closing the NFS session", zap.NamedError("flush_error", err))
	return err
}

// state is the state file content for a mount just made.
func (m Mounter) state(req *mountopts.MountRequest) mountstate.FUSE {
	cmd := m.RemountCmd
	if cmd == nil {
		exe, err := os.Executable()
		if err != nil {
			exe = os.Args[0]
		}
		args := req.RemountArgs
		if args == nil {
			args = os.Args[1:]
		}
		cmd = RemountArgv(exe, args)
	}
	// Our own start time: /proc/self/stat cannot fail while we run.
	start, _ := mountstate.ProcessStart(os.Getpid())
	return mountstate.FUSE{
		PID: os.Getpid(), PIDStart: start, Cmd: cmd, MountPoint: req.MountPoint, FSID: req.FSID,
		DNSName: req.Target.DNSName, MountTime: epoch(time.Now()), Mode: mountstate.ModeFUSE,
		// The serving process runs as the mounting user; a remount must too.
		UID: os.Getuid(), GID: os.Getgid(),
	}
}

// dialer returns the connection factory: verified TLS for `tls`, plain TCP
// otherwise (as the kernel client would connect without the helper's
// tunnel). With netns= both connect from inside that network namespace; a
// path that is not one fails the mount here.
func (m Mounter) dialer(req *mountopts.MountRequest, log *zap.Logger, cert func() (*tls.Certificate, error)) (func(context.Context) (net.Conn, error), error) {
	o := req.Options
	if !o.TLS {
		// The command has warned that this is clear text (stderr and log).
		addr, netns := req.Target.DialAddr, o.NetNS
		if err := tunnel.CheckNetNS(netns); err != nil {
			return nil, err
		}
		return func(ctx context.Context) (net.Conn, error) {
			return tunnel.DialNetNS(ctx, netns, "tcp", addr)
		}, nil
	}
	cfg := tunnel.NewConfig(req.Target.DialAddr, req.Target.ServerName)
	cfg.NetNS = o.NetNS // netns=: connect from inside that namespace
	cfg.Logger = log.Named("tls")
	cfg.ClientCertificate = cert
	if req.Config != nil {
		cfg.CAFile = req.Config.CAFile(req.Target.Region)
		cfg.CheckHostname = req.Config.Mount.StunnelCheckCertHostname
	}
	if o.CAFile != "" {
		cfg.CAFile = o.CAFile
	}
	if o.Verify != nil {
		cfg.Verify = *o.Verify
	}
	d, err := tunnel.NewDialer(cfg)
	if err != nil {
		return nil, err
	}
	return d.DialContext, nil
}

// fuseOptions maps the NFS mount options that mean something in FUSE
// mode onto the filesystem's options.
func fuseOptions(req *mountopts.MountRequest, s *nfsclient.Client, fh nfsclient.FH, attr nfsclient.Attr, id Identity, log *zap.Logger) fusefs.Options {
	set := req.Options.Settings()
	fo := fusefs.Options{
		Session:      s,
		RootFH:       fh,
		RootAttr:     attr,
		FSName:       req.FSID + ":" + req.Path,
		ReadOnly:     set.ReadOnly,
		Unprivileged: id.Unprivileged,
		FixedCred:    id.Cred,
		IDs:          id.IDs,
		// An access point acts for every caller as its POSIX user:
		// only the server can tell what a caller may do.
		ServerMapsIdentity: req.Options.AccessPoint != "",
		Logger:             log.Named("fuse"),
	}
	fo.AttrCache, fo.EntryTimeout, fo.NegativeTimeout = attrCache(req.Options, set)
	return fo
}

// attrCache maps noac, actimeo and acregmin ... acdirmax onto fusefs's
// attribute cache, with the kernel client's meaning (fusefs.AttrCache).
// A bound not given keeps fusefs's 1 s default, shorter than the kernel
// client's; noac caches nothing, names and missing names included.
func attrCache(o *mountopts.Options, set mountopts.NFSSettings) (ac *fusefs.AttrCache, entry, negative *time.Duration) {
	if set.NoAC {
		zero := time.Duration(0)
		return &fusefs.AttrCache{}, &zero, &zero
	}
	c := fusefs.UniformAttrCache(fusefs.DefaultAttrCacheTime)
	given := false
	for _, b := range []struct {
		name string
		dst  *time.Duration
		val  time.Duration
	}{
		{"acregmin", &c.RegMin, set.AcRegMin}, {"acregmax", &c.RegMax, set.AcRegMax},
		{"acdirmin", &c.DirMin, set.AcDirMin}, {"acdirmax", &c.DirMax, set.AcDirMax},
	} {
		if o.Has(b.name) || o.Has("actimeo") {
			*b.dst, given = b.val, true
		}
	}
	if !given {
		return nil, nil, nil
	}
	return &c, nil, nil
}

// softTimeout is how long one operation may take on a `soft` mount before
// it fails with EIO: the NFS client's major timeout, timeo x (retrans+1)
// (timeo is in tenths of a second). A `hard` mount (the default) waits
// forever, as EFS recommends.
func softTimeout(s mountopts.NFSSettings) time.Duration {
	if s.Hard {
		return 0
	}
	return s.Timeo * time.Duration(s.Retrans+1)
}

func closeSession(c *nfsclient.Client, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
	defer cancel()
	switch err := c.Close(ctx); {
	case err == nil:
		log.Info("NFS session destroyed")
	case !errors.Is(err, context.DeadlineExceeded):
		log.Warn("closing the NFS session", zap.Error(err))
	}
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/fallback"
	"github.com/efs-fuse/efs-fuse/internal/fusemount"
	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

// Each path works under benchDir/<path> of the file system, so paths
// never share files and one RemoveAll tidies a path up.
const benchDir = "efs-fuse-bench"

// Timeouts for setting paths up and tearing them down: a target that
// does not answer must fail the run with a reason, not hang it.
const (
	startTimeout    = 60 * time.Second
	teardownTimeout = 30 * time.Second
)

// target is the mount target every path reaches: a local one started for
// the run, or a remote one named by flags.
type target struct {
	cfg        Config
	log        *zap.Logger
	local      *localtarget.Target // in-process local target; nil otherwise
	child      *childTarget        // local target in a process of its own (Config.Exe); nil otherwise
	workDir    string              // removed on close; "" for a remote target
	export     string              // the exported directory, "" when remote
	addr       string              // TLS front end
	serverName string
	caFile     string
	plainAddr  string // plain NFS (ganesha), "" when not known
}

// openTarget starts the local target, or describes the remote one.
func openTarget(ctx context.Context, cfg Config) (*target, error) {
	t := &target{cfg: cfg, log: cfg.Logger}
	if cfg.Target != "" {
		t.addr, t.serverName, t.caFile, t.plainAddr = cfg.Target, cfg.ServerName, cfg.CAFile, cfg.PlainTarget
		if t.serverName == "" {
			return nil, errors.New("bench: --target needs --server-name (the name in the mount target's certificate, fs-ID.efs.REGION.amazonaws.com)")
		}
		return t, nil
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("bench: starting the local target (nfs-ganesha, FSAL VFS) needs root; run as root, or use --target HOST:PORT --server-name NAME to benchmark an existing mount target")
	}
	work, err := os.MkdirTemp(cfg.WorkDir, "efs-fuse-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: work directory: %w", err)
	}
	t.workDir = work
	t.export = filepath.Join(work, "export")
	if err := os.MkdirAll(t.export, 0o777); err != nil {
		_ = os.RemoveAll(work)
		return nil, fmt.Errorf("bench: export directory: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if cfg.Exe != "" {
		c, err := startChildTarget(sctx, cfg.Exe, t.export, filepath.Join(work, "state"))
		if err != nil {
			_ = os.RemoveAll(work)
			return nil, err
		}
		t.child = c
		t.addr, t.serverName, t.caFile, t.plainAddr = c.addr, c.serverName, c.caFile, c.nfsAddr
		return t, nil
	}
	lt, err := localtarget.Start(sctx, localtarget.Options{
		ExportDir: t.export, StateDir: filepath.Join(work, "state"), Listen: "127.0.0.1:0",
		LeaseSeconds: 10, Logger: t.log.Named("target"),
	})
	if err != nil {
		_ = os.RemoveAll(work)
		return nil, fmt.Errorf("bench: start the local target: %w", err)
	}
	t.local = lt
	t.addr, t.serverName, t.caFile, t.plainAddr = lt.Addr(), lt.ServerName(), lt.CAFile(), lt.NFSAddr()
	return t, nil
}

func (t *target) close() error {
	var err error
	if t.local != nil {
		err = t.local.Close()
	}
	if t.child != nil {
		err = t.child.close()
	}
	if t.workDir != "" {
		err = errors.Join(err, os.RemoveAll(t.workDir))
	}
	return err
}

// callCounter reads the local target's count of RPC calls relayed by its
// front end, for a path that goes through it; nil when there is none to
// read (a remote target; client-plain, which talks to ganesha directly).
func (t *target) callCounter(path string) func() (uint64, error) {
	if path == "client-plain" || path == "local" {
		return nil
	}
	switch {
	case t.local != nil:
		return func() (uint64, error) { return t.local.Calls(), nil }
	case t.child != nil:
		return t.child.calls
	}
	return nil
}

// describe names the target in the report.
func (t *target) describe() string {
	if t.local != nil {
		return "local (nfs-ganesha behind the TLS front end, export on " + t.export + ")"
	}
	if t.child != nil {
		return "local (efs-fuse local-target: nfs-ganesha behind the TLS front end, export on " + t.export + ")"
	}
	return t.addr + " (" + t.serverName + ")"
}

// openPath sets up the named path and returns it with its setup path
// (see env.setup). A *SkipError says the path cannot run here. Each round
// works in a directory of its own: the cleanup goes through the export
// behind ganesha's back, and its cache would hand a later round's OPEN or
// MKDIR of a reused name the handle of the removed file (ESTALE, or data
// written to an unlinked inode).
func (t *target) openPath(ctx context.Context, name string, round int) (Path, Path, error) {
	sub := filepath.Join(benchDir, name)
	if round > 0 {
		sub = fmt.Sprintf("%s.round%d", sub, round+1)
	}
	switch name {
	case "local":
		if t.export == "" {
			return nil, nil, &SkipError{"the target is remote: there is no local export directory"}
		}
		p, err := newOSPath(name, filepath.Join(t.export, sub), false, nil)
		return p, p, err
	case "fuse":
		return t.openFUSE(ctx, sub)
	case "kernel":
		return t.openKernel(ctx, sub)
	case "client":
		return t.openClient(ctx, name, sub, t.tlsDial)
	case libnfsPathName:
		return t.openLibNFS(ctx, sub)
	case "client-plain":
		if t.plainAddr == "" {
			return nil, nil, &SkipError{"no plain NFS address for a remote target: pass --plain-target HOST:2049"}
		}
		addr := t.plainAddr
		return t.openClient(ctx, name, sub, func() (func(context.Context) (net.Conn, error), error) {
			return func(ctx context.Context) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr)
			}, nil
		})
	}
	return nil, nil, fmt.Errorf("bench: unknown path %q", name)
}

// setupFor is the fast way to the files of path's working directory sub:
// the export itself when the target is local.
func (t *target) setupFor(p Path, sub string) (Path, error) {
	if t.export == "" {
		return p, nil
	}
	return newOSPath(p.Name()+"-setup", filepath.Join(t.export, sub), false, nil)
}

func (t *target) tlsDial() (func(context.Context) (net.Conn, error), error) {
	tc := tunnel.NewConfig(t.addr, t.serverName)
	tc.CAFile = t.caFile
	d, err := tunnel.NewDialer(tc)
	if err != nil {
		return nil, fmt.Errorf("bench: TLS dialer: %w", err)
	}
	return d.DialContext, nil
}

func (t *target) openClient(ctx context.Context, name, sub string, dialer func() (func(context.Context) (net.Conn, error), error)) (Path, Path, error) {
	dial, err := dialer()
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	cctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	c, err := nfsclient.Dial(cctx, nfsclient.Config{
		Dial:        dial,
		OwnerID:     fmt.Sprintf("efs-fuse-bench/%s/%s/%d", host, name, time.Now().UnixNano()),
		Logger:      t.log.Named(name),
		Connections: t.cfg.NConnect,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %s path: connect to %s: %w", name, t.addr, err)
	}
	closeFn := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
		defer cancel()
		return c.Close(ctx)
	}
	p, err := newClientPath(cctx, name, c, "/"+filepath.ToSlash(sub), t.cfg.Depth, closeFn)
	if err != nil {
		return nil, nil, errors.Join(err, closeFn())
	}
	setup, err := t.setupFor(p, sub)
	if err != nil {
		return nil, nil, errors.Join(err, p.Close())
	}
	return p, setup, nil
}

// openFUSE uses the mount given with --mount, or mounts the target in
// this process through the production mount path (fusemount), exactly as
// `efs-fuse -o tls` would, and unmounts it when the path is closed.
func (t *target) openFUSE(ctx context.Context, sub string) (Path, Path, error) {
	if t.cfg.Mount != "" {
		p, err := newOSPath("fuse", filepath.Join(t.cfg.Mount, sub), true, nil)
		return p, p, err
	}
	if !fallback.FUSEAvailable() {
		return nil, nil, &SkipError{"FUSE is not available (no /dev/fuse)"}
	}
	mnt, err := os.MkdirTemp(t.cfg.WorkDir, "efs-fuse-bench-mnt-")
	if err != nil {
		return nil, nil, fmt.Errorf("bench: fuse path: mount point: %w", err)
	}
	var unmount func() error
	var procs *procSet
	if t.cfg.Exe != "" {
		m, err := t.mountChild(ctx, mnt)
		if err != nil {
			return nil, nil, errors.Join(err, os.Remove(mnt))
		}
		unmount = m.close
		procs = &procSet{serving: m.cmd.Process.Pid, hasServ: true, client: []int{self, m.cmd.Process.Pid}}
	} else {
		req, err := t.mountRequest(mnt)
		if err != nil {
			return nil, nil, errors.Join(err, os.Remove(mnt))
		}
		if unmount, err = mountFUSE(ctx, req); err != nil {
			return nil, nil, errors.Join(err, os.Remove(mnt))
		}
	}
	closeFn := func() error { return errors.Join(unmount(), os.Remove(mnt)) }
	p, err := newOSPath("fuse", filepath.Join(mnt, sub), true, closeFn)
	if err != nil {
		return nil, nil, errors.Join(err, closeFn())
	}
	p.procs = procs
	setup, err := t.setupFor(p, sub)
	if err != nil {
		return nil, nil, errors.Join(err, p.Close())
	}
	return p, setup, nil
}

// mountChild mounts the target at mnt with the efs-fuse binary in the
// foreground, as `efs-fuse -o tls ...` would in the background.
func (t *target) mountChild(ctx context.Context, mnt string) (*childMount, error) {
	fsID, region := t.fsIDRegion()
	host, port, err := net.SplitHostPort(t.addr)
	if err != nil {
		return nil, fmt.Errorf("bench: fuse path: target address %q: %w", t.addr, err)
	}
	opts := fmt.Sprintf("tls,region=%s,nconnect=%d,mounttargetip=%s,mounttargetport=%s", region, t.cfg.NConnect, host, port)
	if t.caFile != "" {
		opts += ",cafile=" + t.caFile
	}
	return startChildMount(ctx, t.cfg.Exe, opts, fsID+":/", mnt)
}

// fsIDRegion are the file system ID and region named by the server name.
func (t *target) fsIDRegion() (string, string) {
	if labels := strings.Split(t.serverName, "."); len(labels) >= 3 && strings.HasPrefix(labels[0], "fs-") {
		return labels[0], labels[2]
	}
	return "fs-00000000", localtarget.DefaultRegion
}

// mountRequest is what `efs-fuse -o tls,cafile=... DEVICE mnt` resolves to.
func (t *target) mountRequest(mnt string) (*mountopts.MountRequest, error) {
	fsID, region := t.fsIDRegion()
	optStr := fmt.Sprintf("tls,region=%s,nconnect=%d", region, t.cfg.NConnect)
	if t.caFile != "" {
		optStr += ",cafile=" + t.caFile
	}
	opts, err := mountopts.Parse(optStr)
	if err != nil {
		return nil, fmt.Errorf("bench: fuse path: mount options: %w", err)
	}
	return &mountopts.MountRequest{
		FSID: fsID, Path: "/", MountPoint: mnt, Options: opts,
		Target: mountopts.Target{DialAddr: t.addr, ServerName: t.serverName, DNSName: t.serverName, Region: region},
		Config: efsconfig.Default(), Logger: t.log.Named("fuse"),
	}, nil
}

// mountFUSE runs the mount on a goroutine it owns and returns once the
// file system answers; the returned function unmounts and waits for the
// goroutine to end.
func mountFUSE(ctx context.Context, req *mountopts.MountRequest) (func() error, error) {
	mctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- (fusemount.Mounter{}).Mount(mctx, req, func() { close(ready) }) }()
	unmount := func() error {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("bench: fuse path: unmount: %w", err)
			}
			return nil
		case <-time.After(teardownTimeout):
			return fmt.Errorf("bench: fuse path: %s did not unmount within %v", req.MountPoint, teardownTimeout)
		}
	}
	select {
	case <-ready:
		return unmount, nil
	case err := <-done:
		cancel()
		if err == nil {
			err = errors.New("ended before the file system was ready")
		}
		return nil, fmt.Errorf("bench: fuse path: mount: %w", err)
	case <-time.After(startTimeout):
		return nil, errors.Join(fmt.Errorf("bench: fuse path: mount not ready within %v", startTimeout), unmount())
	}
}

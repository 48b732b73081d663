package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/efs-fuse/efs-fuse/internal/detached"
	"github.com/efs-fuse/efs-fuse/internal/fallback"
)

// openKernel uses the mount given with --kernel-mount, or mounts the
// target in fallback mode in this run, as `efs-fuse -o tls,fallback` would
// (an `efs-fuse tunnel` process started from this executable, then
// mount.nfs4), and unmounts it and stops the tunnel when the path is
// closed. No watchdog supervises that tunnel: the run owns it.
func (t *target) openKernel(ctx context.Context, sub string) (Path, Path, error) {
	if t.cfg.KernelMount != "" {
		p, err := newOSPath("kernel", filepath.Join(t.cfg.KernelMount, sub), true, nil)
		return p, p, err
	}
	if !fallback.KernelHasNFS4() {
		return nil, nil, &SkipError{"kernel has no NFS client (nfs4 not in /proc/filesystems)"}
	}
	if _, err := exec.LookPath(fallback.MountNFS4); err != nil {
		if _, err := os.Stat("/sbin/" + fallback.MountNFS4); err != nil {
			return nil, nil, &SkipError{"mount.nfs4 is not installed (apt-get install nfs-common)"}
		}
	}
	if os.Geteuid() != 0 {
		return nil, nil, &SkipError{"mounting with the kernel NFS client needs root"}
	}
	dir, err := os.MkdirTemp(t.cfg.WorkDir, "efs-fuse-bench-kernel-")
	if err != nil {
		return nil, nil, fmt.Errorf("bench: kernel path: %w", err)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("bench: kernel path: %w", err), os.RemoveAll(dir))
	}
	req, err := t.mountRequest(mnt)
	if err != nil {
		return nil, nil, errors.Join(err, os.RemoveAll(dir))
	}
	req.StateDir = filepath.Join(dir, "state")
	req.Logger = t.log.Named("kernel")
	mctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	// The tunnel is this process's child: keep it to stop and reap it.
	var tun detached.Process
	m := &fallback.Mounter{Start: func(argv []string, logFile string) (detached.Process, error) {
		var err error
		tun, err = detached.Start(argv, logFile)
		return tun, err
	}}
	if err := m.Mount(mctx, req); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("bench: kernel path: mount: %w", err), os.RemoveAll(dir))
	}
	closeFn := func() error { return unmountKernel(mnt, tun, dir) }
	p, err := newOSPath("kernel", filepath.Join(mnt, sub), true, closeFn)
	if err != nil {
		return nil, nil, errors.Join(err, closeFn())
	}
	// Files are set up through the mount, not the export: the kernel
	// client caches a directory's entries (acdirmin, 30 s), and would
	// answer ENOENT for a file made behind its back.
	return p, p, nil
}

// unmountKernel unmounts the kernel path's mount, stops its tunnel and
// removes dir.
func unmountKernel(mnt string, tun detached.Process, dir string) error {
	err := syscall.Unmount(mnt, 0)
	if err != nil {
		err = fmt.Errorf("bench: kernel path: unmount %s: %w", mnt, err)
		_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
	}
	if tun != nil {
		err = errors.Join(err, tun.Stop())
	}
	return errors.Join(err, os.RemoveAll(dir))
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/efs-fuse/efs-fuse/internal/daemon"
	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/fallback"
	"github.com/efs-fuse/efs-fuse/internal/fusemount"
	"github.com/efs-fuse/efs-fuse/internal/idmap"
	"github.com/efs-fuse/efs-fuse/internal/logging"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

// mountOptions is the parsed command line of a mount.
type mountOptions struct {
	InvokedAs          string
	Device, MountPoint string
	Options            []string // each -o argument, joined with commas later
	Fake               bool     // validate and print only
	Foreground         bool
	NoMtab, Sloppy     bool // mount(8)'s -n and -s: accepted, nothing to do
	Verbose            bool // DEBUG logging
	ConfigPath         string
	ConfigExplicit     bool // --config given: a missing file is an error, not the defaults
}

// mountDeps is everything runMount reaches outside the process for, so
// tests can run the whole command without mounting or touching the host.
type mountDeps struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Euid           int
	// NamespaceSubdir keys state by mount namespace inside a user
	// namespace (logging.NamespaceSubdir); "" in the initial one.
	NamespaceSubdir string
	ReadMountInfo   func() (string, error)
	// LookupCNAME returns the names a host resolves to, for devices given
	// as a CNAME of a mount target.
	LookupCNAME    func(host string) ([]string, error)
	InstanceRegion func(ctx context.Context) (string, error)
	Daemonize      func(foreground bool, work func(ready func()) error) error
	NewLogger      func(logging.LogConfig) (*zap.Logger, func(), error)
	Mounter        mountopts.Mounter
	// Mode selection; nil FUSEAvailable means FUSE is there, nil
	// KernelHasNFS means the kernel has no NFS client.
	FUSEAvailable func() bool
	KernelHasNFS  func() bool
	// Fallback mounts: fallback mode (tunnel + kernel NFS client).
	Fallback fallbackMounter
	// StartWatchdog starts the watchdog for a state directory unless one
	// runs; nil starts none (tests).
	StartWatchdog func(stateDir, configPath string) error
	// WatchdogIdleExit overrides how long a watchdog with no mount to
	// supervise keeps running (tests); 0 is the default for Euid.
	WatchdogIdleExit time.Duration
}

// fallbackMounter is fallback.Mounter's Mount: it returns once mounted,
// leaving a detached tunnel and no process of ours behind.
type fallbackMounter interface {
	Mount(ctx context.Context, req *mountopts.MountRequest) error
}

// systemDeps wires the real host.
func systemDeps() *mountDeps {
	euid := privilegeEuid()
	return &mountDeps{
		Stdout:          os.Stdout,
		Stderr:          os.Stderr,
		Getenv:          os.Getenv,
		Euid:            euid,
		NamespaceSubdir: namespaceSubdir(),
		ReadMountInfo: func() (string, error) {
			b, err := os.ReadFile("/proc/self/mountinfo")
			return string(b), err
		},
		LookupCNAME: func(host string) ([]string, error) {
			name, err := net.LookupCNAME(host)
			if err != nil {
				return nil, err
			}
			return []string{name}, nil
		},
		InstanceRegion: func(ctx context.Context) (string, error) {
			return mountopts.InstanceRegion(ctx, &http.Client{}, mountopts.IMDSEndpoint)
		},
		Daemonize: daemon.Run,
		NewLogger: logging.New,
		Mounter:   fusemount.Mounter{Version: version},

		FUSEAvailable: fallback.FUSEAvailable,
		KernelHasNFS:  fallback.KernelHasNFS4,
		// Not root of the host: the client key lives in the user's state
		// directory, as in FUSE mode.
		Fallback:      &fallback.Mounter{Version: version, Unprivileged: euid != 0},
		StartWatchdog: startWatchdog,
	}
}

// runMount validates everything, then mounts (in the background unless
// asked otherwise). Every failure is logged here and returned for Main to
// print and map to an exit code.
func runMount(ctx context.Context, o *mountOptions, d *mountDeps) error {
	// Before anything else: the background process, tunnels and the
	// watchdog run from other directories.
	if err := absolutePaths(o); err != nil {
		return err
	}
	if o.ConfigExplicit {
		if _, err := os.Stat(o.ConfigPath); err != nil {
			return &mountopts.UsageError{Msg: fmt.Sprintf("Configuration file %s (--config) cannot be read: %v", o.ConfigPath, unwrapPath(err))}
		}
	}
	cfg, err := efsconfig.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	logger, closeLog := openLog(cfg, o, d)
	defer closeLog()
	// warn is for what changes what the user gets (no encryption, no
	// verification, options ignored, defaults in place of a config): the
	// log alone is not read at mount time. In the foreground the log
	// already reaches stderr. The background child says nothing: its
	// parent ran the same checks and has said it, in the log too.
	warn := func(msg string) {
		if daemon.IsChild() {
			return
		}
		logger.Warn(msg)
		if !o.Foreground {
			fmt.Fprintf(d.Stderr, "%s: warning: %s\n", o.InvokedAs, msg)
		}
	}
	for _, w := range cfg.Warnings {
		warn(w)
	}
	logger.Debug("mount requested", zap.String("device", o.Device), zap.String("mount_point", o.MountPoint),
		zap.Strings("options", o.Options), zap.String("invoked_as", o.InvokedAs))
	fail := func(err error) error {
		logger.Error(err.Error())
		return err
	}

	req, err := resolveMount(ctx, o, cfg, d)
	if err != nil {
		return fail(err)
	}
	entries, err := d.ReadMountInfo()
	if err != nil {
		return fail(fmt.Errorf("read mount table: %w", err))
	}
	if isEFSMount(entries, req.MountPoint) {
		msg := fmt.Sprintf("%s is already mounted, please run 'mount' command to verify", req.MountPoint)
		fmt.Fprintln(d.Stdout, msg)
		logger.Warn(msg)
		return nil
	}
	mode, reason, err := chooseMode(d, req.Options)
	if err != nil {
		return fail(err)
	}
	for _, w := range userWarnings(req, mode) {
		warn(w) // a fake mount too: it shows what a mount would give
	}
	if o.Fake {
		printPlan(d.Stdout, o, req)
		return nil
	}

	req.StateDir = stateDir(d)
	if err := logging.EnsureDir(req.StateDir, cfg.Default.StateFileDirMode); err != nil {
		return fail(err)
	}
	req.Config, req.Foreground = cfg, o.Foreground
	req.Logger = logger.With(zap.String("fs_id", req.FSID), zap.String("mount_point", req.MountPoint))
	req.RemountArgs = remountArgs(o)
	if reason != "" {
		logger.Info(reason)
	}
	if mode == fallback.ModeFallback {
		if err := d.Fallback.Mount(ctx, req); err != nil {
			return fail(err)
		}
		ensureWatchdog(d, cfg, req.StateDir, o.ConfigPath, logger)
		return nil
	}
	workLogged := false // the work logs its own failure; the parent must not repeat it
	err = d.Daemonize(o.Foreground, func(ready func()) error {
		limitMemory() // in the daemon only: not in a process that merely starts it
		var once sync.Once
		err := d.Mounter.Mount(ctx, req, func() {
			once.Do(func() {
				// No fields on this line: users grep for it exactly.
				logger.Info(fmt.Sprintf("Successfully mounted %s at %s", req.Target.DNSName, req.MountPoint))
				// Before ready: once the command returns, the mount is
				// supervised.
				ensureWatchdog(d, cfg, req.StateDir, o.ConfigPath, logger)
				ready()
			})
		})
		if err != nil {
			workLogged = true
			req.Logger.Error(err.Error())
		}
		return err
	})
	var child *daemon.ChildError
	if err != nil && !workLogged && !errors.As(err, &child) {
		logger.Error(err.Error())
	}
	return err
}

// resolveMount turns the command line into a MountRequest: device,
// options, mount point and server. Errors are *mountopts.UsageError.
func resolveMount(ctx context.Context, o *mountOptions, cfg *efsconfig.Config, d *mountDeps) (*mountopts.MountRequest, error) {
	dev, err := mountopts.ParseDevice(o.Device)
	if err != nil {
		return nil, err
	}
	parse := mountopts.Parse
	if o.Sloppy {
		parse = mountopts.ParseSloppy // mount -s, as mount.nfs4 reads it
	}
	opts, err := parse(strings.Join(o.Options, ","))
	if err != nil {
		return nil, err
	}
	if dev, err = mountopts.ResolveCNAME(dev, d.LookupCNAME); err != nil {
		return nil, err
	}
	if err := opts.ApplyDevice(dev); err != nil {
		return nil, err
	}
	mp, err := checkMountPoint(o.MountPoint)
	if err != nil {
		return nil, err
	}
	target, err := mountopts.DNSName(ctx, dev.FSID, opts, cfg,
		mountopts.RegionSources{Getenv: d.Getenv, InstanceRegion: d.InstanceRegion})
	if err != nil {
		return nil, err
	}
	return &mountopts.MountRequest{FSID: dev.FSID, Path: dev.Path, MountPoint: mp, Options: opts, Target: target}, nil
}

// checkMountPoint makes the mount point absolute (the background process
// leaves the working directory) with symbolic links resolved (the kernel
// records the mount under the resolved path, and so must the state file
// and the already-mounted check), and checks it is a directory.
func checkMountPoint(p string) (string, error) {
	abs, err := resolveMountPoint(p)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", &mountopts.UsageError{Msg: fmt.Sprintf("Mount point %s does not exist", abs)}
	case err != nil:
		return "", &mountopts.UsageError{Msg: fmt.Sprintf("Mount point %s cannot be used: %v", abs, err)}
	case !fi.IsDir():
		return "", &mountopts.UsageError{Msg: fmt.Sprintf("Mount point %s is not a directory", abs)}
	}
	return abs, nil
}

// openLog opens mount.log; a log that cannot be opened must not stop the
// mount, so it degrades to no logging with a warning.
func openLog(cfg *efsconfig.Config, o *mountOptions, d *mountDeps) (*zap.Logger, func()) {
	var console io.Writer
	if o.Foreground && !o.Fake {
		console = d.Stderr // -f: the log on the terminal too
	}
	logger, closeFn, err := d.NewLogger(logging.LogConfig{
		Dir:       logDir(d.Euid, d.Getenv),
		FileName:  logging.MountLogName,
		Level:     cfg.Default.LoggingLevel,
		MaxBytes:  cfg.Default.LoggingMaxBytes,
		FileCount: cfg.Default.LoggingFileCount,
		Debug:     o.Verbose,
		Console:   console,
	})
	if err != nil {
		fmt.Fprintf(d.Stderr, "warning: not logging to a file: %v\n", err)
		if console != nil { // -f: the terminal still gets the log
			return zap.New(zapcore.NewCore(logging.NewEncoder(), zapcore.AddSync(console), zapcore.InfoLevel)), func() {}
		}
		return zap.NewNop(), func() {}
	}
	return logger, closeFn
}

// printPlan is the fake mount's output: what a real mount would do.
func printPlan(w io.Writer, o *mountOptions, r *mountopts.MountRequest) {
	mode := "FUSE, NFSv4.1 over TLS"
	switch {
	case r.Options.Fallback:
		mode = "fallback: TLS tunnel and kernel NFS client"
	case !r.Options.TLS:
		mode = "FUSE, NFSv4.1 over TCP without TLS"
	}
	flag := "--fake"
	if invokedAsMountHelper(o.InvokedAs) {
		flag = "-f" // mount(8)'s fake flag
	}
	fmt.Fprintf(w, "fake mount: nothing mounted (%s %s)\n", o.InvokedAs, flag)
	fmt.Fprintf(w, "  file system: %s:%s\n", r.FSID, r.Path)
	fmt.Fprintf(w, "  mount point: %s\n", r.MountPoint)
	fmt.Fprintf(w, "  server:      %s\n", r.Target.DNSName)
	fmt.Fprintf(w, "  dial:        %s\n", r.Target.DialAddr)
	if r.Options.TLS {
		fmt.Fprintf(w, "  tls name:    %s\n", r.Target.ServerName)
	}
	fmt.Fprintf(w, "  mode:        %s\n", mode)
	fmt.Fprintf(w, "  nfs options: %s\n", strings.Join(mountopts.NFSOptions(r.Options), ","))
}

// privilegeEuid is the euid that decides where logs and state go: root of
// a user namespace (a rootless container) is not root on the host, cannot
// write /var/log or /var/run, and gets per-user directories like any other
// unprivileged user.
// namespaceSubdir is logging.NamespaceSubdir for this process.
func namespaceSubdir() string {
	ids, err := idmap.Load()
	if err != nil {
		return ""
	}
	mnt, _ := os.Readlink("/proc/self/ns/mnt")
	return logging.NamespaceSubdir(ids.IsIdentity(), mnt)
}

func privilegeEuid() int {
	euid := os.Geteuid()
	if id, err := fusemount.MountIdentity(); err == nil && euid == 0 && id.Unprivileged {
		return int(max(id.Cred.UID, 1)) // host root's own namespace still is not the host
	}
	return euid
}

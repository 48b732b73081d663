package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/fallback"
	"github.com/efs-fuse/efs-fuse/internal/inheritedfd"
	"github.com/efs-fuse/efs-fuse/internal/logging"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/watchdog"
)

// Environment overrides of the state and log directories: for tests and
// for containers that keep state on a volume. Mounts, the watchdog and
// status must agree, so all three read them here.
const (
	envStateDir = "EFS_FUSE_STATE_DIR"
	envLogDir   = "EFS_FUSE_LOG_DIR"
)

// stateDir is where this process's mounts keep their state, and where
// the watchdog that supervises them looks: per user, and within that per
// mount namespace for mounts made inside a user namespace
// (logging.NamespaceSubdir).
func stateDir(d *mountDeps) string {
	if dir := d.Getenv(envStateDir); dir != "" {
		return dir
	}
	return filepath.Join(logging.StateDir(d.Euid, d.Getenv), d.NamespaceSubdir)
}

func logDir(euid int, getenv func(string) string) string {
	if d := getenv(envLogDir); d != "" {
		return d
	}
	return logging.LogDir(euid, getenv)
}

// chooseMode picks FUSE or fallback mode for this host and these options.
func chooseMode(d *mountDeps, o *mountopts.Options) (fallback.Mode, string, error) {
	fuseOK, nfsOK := true, false
	if d.FUSEAvailable != nil {
		fuseOK = d.FUSEAvailable()
	}
	if d.KernelHasNFS != nil {
		nfsOK = d.KernelHasNFS()
	}
	return fallback.ChooseMode(fuseOK, nfsOK, o)
}

// ensureWatchdog starts the watchdog after a mount unless the config
// disables it. A watchdog that cannot start must not fail a mount that
// works: it is logged.
func ensureWatchdog(d *mountDeps, cfg *efsconfig.Config, dir, configPath string, log *zap.Logger) {
	if d.StartWatchdog == nil || !cfg.Watchdog.Enabled {
		return
	}
	if err := d.StartWatchdog(dir, configPath); err != nil {
		log.Warn("could not start the watchdog: this mount is not supervised", zap.Error(err))
	}
}

// detachTimeout bounds `efs-fuse watchdog --detach`, which only spawns.
const detachTimeout = 10 * time.Second

// startWatchdog runs `efs-fuse watchdog --detach` and waits for it: that
// process starts the real watchdog in a new session and exits, so the
// watchdog is reparented to init and never becomes a zombie of the mount.
func startWatchdog(dir, configPath string) error {
	if running, _ := watchdog.Running(dir); running {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the efs-fuse executable: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), detachTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, exe, "watchdog", "--detach", "--config", configPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("efs-fuse watchdog --detach: %s: %w", out, err)
	}
	return nil
}

type watchdogOptions struct {
	ConfigPath string
	Detach     bool
	Verbose    bool
}

func newWatchdogCmd(deps *mountDeps) *cobra.Command {
	o := &watchdogOptions{}
	cmd := &cobra.Command{
		Use:   "watchdog [--detach] [--config PATH]",
		Short: "Supervise efs-fuse mounts: restart stuck sessions, remount dead FUSE daemons, restart tunnels",
		Long: `Runs the mount watchdog in the foreground (systemd: Type=simple). One runs per
host as root, or per user otherwise (one per state directory, held by a lock):
a second one exits at once with status 0. Mounts start it when none runs. A
user's exits 30 s after the last of that user's mounts is gone; root's stays.

For every mount in the state directory, in its own loop every
poll_interval_sec: FUSE mounts get a statfs probe with a timeout (a hung one
makes the serving process restart its NFS connection; a dead serving process
means lazy unmount and remount at the same place); fallback mounts get
their tunnel restarted when it dies or hangs, and stopped once the file
system is unmounted. Events go to mount-watchdog.log.

--detach starts the watchdog in the background and returns.`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWatchdog(cmd.Context(), o, deps)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ConfigPath, "config", efsconfig.DefaultPath, "configuration file")
	f.BoolVar(&o.Detach, "detach", false, "start in the background (new session) and return")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "log at DEBUG level")
	return cmd
}

func runWatchdog(ctx context.Context, o *watchdogOptions, d *mountDeps) error {
	// Before anything else: a descriptor inherited from the mount that
	// started us (a /dev/fuse one, above all) would otherwise live as long
	// as the watchdog and pass on to every process it starts.
	inherited, inheritedErr := inheritedfd.CloseInherited()
	// Nor may the mounting shell's AWS credentials live on in the
	// watchdog, or pass to the remounts and tunnels it starts.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			_ = os.Unsetenv(k)
		}
	}
	cfg, err := efsconfig.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	if !cfg.Watchdog.Enabled {
		fmt.Fprintf(d.Stdout, "efs-fuse watchdog: disabled ([mount-watchdog] enabled = false in %s)\n", cfg.Path)
		return nil
	}
	dir := stateDir(d)
	if err := logging.EnsureDir(dir, cfg.Default.StateFileDirMode); err != nil {
		return err
	}
	if o.Detach {
		if running, pid := watchdog.Running(dir); running {
			fmt.Fprintf(d.Stdout, "efs-fuse watchdog: already running (pid %d) for %s\n", pid, dir)
			return nil
		}
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the efs-fuse executable: %w", err)
		}
		pid, err := watchdog.SpawnDetached([]string{exe, "watchdog", "--config", o.ConfigPath}, os.Environ())
		if err != nil {
			return err
		}
		fmt.Fprintf(d.Stdout, "efs-fuse watchdog: started (pid %d) for %s\n", pid, dir)
		return nil
	}
	lock, err := watchdog.AcquireLock(dir)
	if errors.Is(err, watchdog.ErrRunning) {
		// Not a failure: systemd and a mount may both try to start one.
		fmt.Fprintf(d.Stdout, "efs-fuse watchdog: %v for %s; exiting\n", err, dir)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { lock.Release() }()

	logger, closeLog, err := d.NewLogger(logging.LogConfig{
		Dir: logDir(d.Euid, d.Getenv), FileName: logging.WatchdogLogName, Level: cfg.Default.LoggingLevel,
		MaxBytes: cfg.Default.LoggingMaxBytes, FileCount: cfg.Default.LoggingFileCount, Debug: o.Verbose,
	})
	if err != nil {
		return fmt.Errorf("open the watchdog log: %w", err)
	}
	defer closeLog()
	for _, warn := range cfg.Warnings {
		logger.Warn(warn)
	}
	if inheritedErr != nil {
		logger.Warn("could not close inherited file descriptors", zap.Error(inheritedErr))
	} else if len(inherited) > 0 {
		logger.Info("closed inherited file descriptors", zap.Ints("fds", inherited))
	}
	for {
		w, err := watchdog.Start(watchdog.Options{StateDir: dir, Config: cfg.Watchdog, Logger: logger,
			MountInfo: d.ReadMountInfo, ExitWhenIdle: idleExit(d)})
		if err != nil {
			logger.Error(err.Error())
			return err
		}
		select {
		case <-ctx.Done():
			return w.Close()
		case <-w.Idle():
		}
		_ = w.Close()
		// Let go, then look once more: a mount that found the lock held
		// (and so started no watchdog) wrote its state file before
		// looking, so it is listed now, and this watchdog carries on.
		lock.Release()
		if entries, err := watchdog.ListStates(dir); err == nil && len(entries) == 0 {
			return nil
		}
		if lock, err = watchdog.AcquireLock(dir); err != nil {
			if errors.Is(err, watchdog.ErrRunning) {
				return nil // a new mount started another
			}
			return err
		}
		logger.Info("a mount appeared while stopping; supervising again")
	}
}

// userWatchdogIdle is how long a per-user watchdog waits with no mount
// before it exits: a remount after a crash, or the next mount of a script,
// comes well within it.
const userWatchdogIdle = 30 * time.Second

// idleExit is when the watchdog stops for lack of mounts: never for the
// host's (root's) watchdog, which systemd may run, and after
// userWatchdogIdle for a user's, which a mount started and nobody stops.
func idleExit(d *mountDeps) time.Duration {
	switch {
	case d.WatchdogIdleExit != 0:
		return d.WatchdogIdleExit
	case d.Euid == 0:
		return 0
	}
	return userWatchdogIdle
}

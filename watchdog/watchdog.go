package watchdog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/detached"
	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/mountstate"
)

// Options configure a Watchdog. Function fields default to the real host;
// tests replace them.
type Options struct {
	StateDir string
	Config   efsconfig.WatchdogSection
	Logger   *zap.Logger

	// PollInterval overrides poll_interval_sec (tests poll faster).
	PollInterval time.Duration
	// Policy adjusts the policy built from Config (tests shorten it).
	Policy func(*Policy)
	Now    func() time.Time
	// MountInfo returns the mount table (default /proc/self/mountinfo).
	MountInfo func() (string, error)
	// Statfs is the health probe (default statfs(2)).
	Statfs func(path string) error
	// Unmount detaches a dead FUSE mount (default: umount2 MNT_DETACH as
	// root, fusermount3 -u -z otherwise).
	Unmount func(mountPoint string) error
	// Remount runs a FUSE mount's command as uid/gid and waits for it.
	Remount func(ctx context.Context, argv []string, uid, gid int) error
	// StartTunnel starts a tunnel process detached (default detached.Start).
	StartTunnel detached.StartFunc
	Alive       func(pid int) bool
	// ExitWhenIdle, when positive, ends supervision once the state
	// directory has held no mount for that long: Idle is closed. A
	// per-user watchdog does not outlive its user's last mount.
	ExitWhenIdle time.Duration
	// SameProcess reports whether pid still has the start time a state
	// file recorded (default mountstate.SameProcess).
	SameProcess func(pid int, start uint64) bool
}

// Watchdog supervises the mounts of one state directory.
type Watchdog struct {
	o      Options
	policy Policy
	poll   time.Duration
	log    *zap.Logger

	cancel context.CancelFunc
	idle   chan struct{}  // closed when ExitWhenIdle has passed without a mount
	wg     sync.WaitGroup // the scan loop and every mount's loop
	probes sync.WaitGroup // statfs calls, which may be stuck in the kernel
}

// Start sweeps what a crash left behind, then supervises every mount in the
// state directory until Close.
func Start(o Options) (*Watchdog, error) {
	if o.StateDir == "" {
		return nil, errors.New("watchdog: no state directory")
	}
	w := &Watchdog{o: o, policy: NewPolicy(o.Config), log: o.Logger, idle: make(chan struct{})}
	if w.log == nil {
		w.log = zap.NewNop()
	}
	if o.Policy != nil {
		o.Policy(&w.policy)
	}
	w.poll = o.PollInterval
	if w.poll <= 0 {
		w.poll = time.Duration(max(o.Config.PollIntervalSec, 1)) * time.Second
	}
	w.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.log.Info("watchdog started", zap.String("state_dir", o.StateDir), zap.Int("pid", os.Getpid()),
		zap.Duration("poll_interval", w.poll))
	w.sweep()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.scanLoop(ctx)
	}()
	return w, nil
}

func (w *Watchdog) defaults() {
	o := &w.o
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MountInfo == nil {
		o.MountInfo = func() (string, error) {
			b, err := os.ReadFile("/proc/self/mountinfo")
			return string(b), err
		}
	}
	if o.Statfs == nil {
		o.Statfs = statfs
	}
	if o.Unmount == nil {
		o.Unmount = lazyUnmount
	}
	if o.Remount == nil {
		o.Remount = runRemount
	}
	if o.StartTunnel == nil {
		o.StartTunnel = detached.Start
	}
	if o.Alive == nil {
		o.Alive = ProcessAlive
	}
	if o.SameProcess == nil {
		o.SameProcess = mountstate.SameProcess
	}
}

// Idle is closed when the watchdog stopped supervising for lack of mounts
// (Options.ExitWhenIdle); Close must still be called.
func (w *Watchdog) Idle() <-chan struct{} { return w.idle }

// probeDrain bounds how long Close waits for statfs calls stuck in the
// kernel: they cannot be cancelled, and a hung mount must not keep the
// watchdog from exiting.
const probeDrain = 2 * time.Second

// Close stops every loop and waits for them.
func (w *Watchdog) Close() error {
	w.cancel()
	w.wg.Wait()
	done := make(chan struct{})
	go func() {
		w.probes.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(probeDrain):
		w.log.Warn("exiting with health probes still blocked in the kernel (a hung mount)")
	}
	w.log.Info("watchdog stopped")
	return nil
}

// scanLoop starts a loop for each new state file; a mount's loop ends when
// its state file goes.
func (w *Watchdog) scanLoop(ctx context.Context) {
	loops := map[string]chan struct{}{}
	bad := map[string]string{} // path -> error already logged
	var idleSince time.Time    // since when no state file and no loop: ExitWhenIdle
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		entries, err := ListStates(w.o.StateDir)
		if err != nil {
			w.log.Error("listing state files", zap.Error(err))
		}
		seen := map[string]bool{}
		for _, e := range entries {
			seen[e.Path] = true
			if e.Temp {
				continue // a mount in progress: its command supervises it
			}
			if e.Err != nil {
				if bad[e.Path] != e.Err.Error() {
					bad[e.Path] = e.Err.Error()
					w.log.Error("skipping a state file", zap.String("state_file", e.Path), zap.Error(e.Err))
				}
				continue
			}
			delete(bad, e.Path)
			if done, ok := loops[e.Path]; ok {
				select {
				case <-done:
				default:
					continue // still supervised
				}
			}
			loops[e.Path] = w.startLoop(ctx, e)
		}
		for p := range bad {
			if !seen[p] {
				delete(bad, p)
			}
		}
		for p, done := range loops {
			select {
			case <-done:
				if !seen[p] {
					delete(loops, p)
				}
			default:
			}
		}
		if w.o.ExitWhenIdle > 0 {
			switch {
			case err != nil || len(entries) > 0 || len(loops) > 0:
				idleSince = time.Time{}
			case idleSince.IsZero():
				idleSince = w.o.Now()
			case w.o.Now().Sub(idleSince) >= w.o.ExitWhenIdle:
				w.log.Info("no mounts left to supervise; stopping", zap.Duration("idle", w.o.ExitWhenIdle))
				close(w.idle)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Watchdog) startLoop(ctx context.Context, e Entry) chan struct{} {
	done := make(chan struct{})
	log := w.log.With(zap.String("mount_point", e.MountPoint()), zap.String("mode", e.Mode))
	if e.FUSE != nil {
		log = log.With(zap.String("fs_id", e.FUSE.FSID))
	} else {
		log = log.With(zap.String("fs_id", e.Fallback.FSID), zap.Int("port", e.Fallback.Port))
	}
	log.Info("supervising mount", zap.String("state_file", e.Path), zap.Int("pid", e.PID()))
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer close(done)
		m := &mount{w: w, path: e.Path, mode: e.Mode, log: log, probe: &prober{w: w, wake: make(chan struct{}, 1)}}
		m.run(ctx)
	}()
	return done
}

// mounted reads the mount table; an unreadable table is reported as an
// error so no decision is made on it (every mount would look gone).
func (w *Watchdog) mounted() (MountTable, error) {
	s, err := w.o.MountInfo()
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	return ParseMountInfo(s), nil
}

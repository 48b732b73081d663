package watchdog

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/internal/mountstate"
)

// remountTimeout bounds a remount command: it returns once the new mount
// answers, and its own session bring-up is bounded by 30 s.
const remountTimeout = 90 * time.Second

// killWait bounds the wait for a SIGKILLed tunnel to release its port.
const killWait = 2 * time.Second

// mount is one mount's loop: observe, decide (decide.go), act.
type mount struct {
	w     *Watchdog
	path  string
	mode  string
	log   *zap.Logger
	probe *prober
	fuse  FUSEState
	tun   TunnelState
	// tableErr is the last mount-table error logged, to log it once.
	tableErr string
}

func (m *mount) run(ctx context.Context) {
	t := time.NewTicker(m.w.poll)
	defer t.Stop()
	for m.pollOnce(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.probe.wake:
		}
	}
}

// pollOnce reports whether the mount is still to be supervised.
func (m *mount) pollOnce(ctx context.Context) bool {
	e := readEntry(Entry{Path: m.path, Mode: m.mode})
	switch {
	case errors.Is(e.Err, fs.ErrNotExist):
		m.log.Info("state file removed: no longer supervising")
		return false
	case e.Err != nil:
		// The scan loop reports it and starts a loop again once it reads.
		return false
	}
	table, err := m.w.mounted()
	if err != nil {
		if err.Error() != m.tableErr {
			m.tableErr = err.Error()
			m.log.Error("cannot observe the mount", zap.Error(err))
		}
		return true
	}
	m.tableErr = ""
	if e.FUSE != nil {
		return m.pollFUSE(ctx, e.FUSE, table)
	}
	return m.pollTunnel(e.Fallback, table)
}

func (m *mount) pollFUSE(ctx context.Context, st *mountstate.FUSE, table MountTable) bool {
	now := m.w.o.Now()
	res, errStr, inFlight := m.probe.result(now, m.w.policy.ProbeTimeout)
	obs := FUSEObservation{Now: now, MountTime: fromEpoch(st.MountTime), PID: st.PID, Mounted: table.Has(st.MountPoint, ModeFUSE),
		PIDAlive: m.w.alive(st.PID, st.PIDStart), Probe: res, ProbeErr: errStr, ProbeInFlight: inFlight}
	var d Decision
	m.fuse, d = DecideFUSE(m.fuse, obs, m.w.policy)
	if d.Recovered > 0 {
		m.log.Info("mount recovered", zap.String("cause", d.Cause), zap.Duration("time_to_recover", d.Recovered))
	}
	switch d.Action {
	case ActRestartSession:
		m.log.Warn("mount unresponsive: asking the serving process to restart its NFS connection",
			zap.String("cause", d.Cause), zap.Int("pid", st.PID))
		if err := signalRecorded(st.PID, st.PIDStart, mountstate.RestartSessionSignal); err != nil {
			m.log.Error("restart session", zap.Error(err))
		}
	case ActRemount:
		if m.remount(ctx, st, obs.Mounted, d.Cause) {
			m.probe.start(st.MountPoint, now) // recovery is logged when it answers
		}
		return true
	case ActRemoveState:
		removeFiles(m.log, m.w.o.StateDir, []string{m.path})
		m.log.Info("removed the state file of a mount that is gone", zap.String("cause", d.Cause))
		return false
	}
	if d.StartProbe {
		m.probe.start(st.MountPoint, now)
	}
	return true
}

// remount replaces a FUSE mount whose daemon died: lazy unmount (nothing
// on it can be saved), then the mount's own command at the same place.
func (m *mount) remount(ctx context.Context, st *mountstate.FUSE, mounted bool, cause string) bool {
	log := m.log.With(zap.String("cause", cause), zap.Int("old_pid", st.PID), zap.Int("attempt", m.fuse.Trouble.Restarts))
	log.Warn("remounting")
	start := time.Now()
	if mounted {
		if err := m.w.o.Unmount(st.MountPoint); err != nil {
			log.Error("lazy unmount failed", zap.Error(err))
		}
	}
	m.probe.reset()
	rctx, cancel := context.WithTimeout(ctx, remountTimeout)
	defer cancel()
	if err := m.w.o.Remount(rctx, st.Cmd, st.UID, st.GID); err != nil {
		log.Error("remount failed", zap.Error(err), zap.Time("next_attempt_not_before", m.fuse.Backoff.NotBefore))
		return false
	}
	log.Info("remounted", zap.Duration("took", time.Since(start)))
	return true
}

func (m *mount) pollTunnel(st *mountstate.Fallback, table MountTable) bool {
	now := m.w.o.Now()
	res, _, inFlight := m.probe.result(now, m.w.policy.HealthTimeout)
	obs := TunnelObservation{Now: now, MountTime: fromEpoch(st.MountTime), PID: st.PID,
		Mounted: table.Has(st.MountPoint, ModeFallback), PIDAlive: m.w.alive(st.PID, st.PIDStart), Probe: res, ProbeInFlight: inFlight}
	var d Decision
	m.tun, d = DecideTunnel(m.tun, obs, m.w.policy)
	if d.Recovered > 0 {
		m.log.Info("tunnel recovered", zap.String("cause", d.Cause), zap.Duration("time_to_recover", d.Recovered))
	}
	switch d.Action {
	case ActRestartTunnel:
		m.restartTunnel(st, d.Cause)
	case ActKillTunnel:
		m.log.Warn("killing a hung tunnel", zap.String("cause", d.Cause), zap.Int("pid", st.PID))
		if err := signalRecorded(st.PID, st.PIDStart, unix.SIGKILL); err != nil {
			m.log.Error("kill tunnel", zap.Error(err))
		}
		for end := time.Now().Add(killWait); m.w.o.Alive(st.PID) && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		m.restartTunnel(st, d.Cause)
	case ActUnmountConfirmed:
		m.log.Info("unmount confirmed: the tunnel stops after the grace period", zap.String("cause", d.Cause),
			zap.Duration("grace", m.w.policy.UnmountGrace))
	case ActStopTunnel:
		m.log.Info("stopping the tunnel of an unmounted file system", zap.String("cause", d.Cause), zap.Int("pid", st.PID))
		if m.w.alive(st.PID, st.PIDStart) {
			if err := signalRecorded(st.PID, st.PIDStart, unix.SIGTERM); err != nil {
				m.log.Error("stop tunnel", zap.Error(err))
			}
			m.awaitExit(st.PID)
		}
		removeFiles(m.log, m.w.o.StateDir, append(append([]string(nil), st.Files...), m.path))
		return false
	}
	if d.StartProbe {
		m.probe.start(st.MountPoint, now)
	}
	return true
}

// stopWait is how long a tunnel gets to close its connections after
// SIGTERM before it is killed.
const stopWait = 10 * time.Second

// awaitExit waits for a stopped tunnel to exit, killing it after stopWait.
// A tunnel this watchdog restarted is its child, and Alive is what reaps
// it: supervision ends right after, so without this wait every such
// tunnel stayed behind as a zombie for the watchdog's lifetime.
func (m *mount) awaitExit(pid int) {
	wait := func(d time.Duration) bool {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if !m.w.o.Alive(pid) {
				return true
			}
		}
		return false
	}
	if wait(stopWait) {
		reapChild(pid, stopWait)
		return
	}
	m.log.Warn("the tunnel did not exit after SIGTERM; killing it", zap.Int("pid", pid), zap.Duration("waited", stopWait))
	if err := signal(pid, unix.SIGKILL); err != nil {
		m.log.Error("kill tunnel", zap.Error(err))
	}
	if !wait(killWait) {
		m.log.Error("the tunnel did not exit after SIGKILL", zap.Int("pid", pid))
	}
	reapChild(pid, killWait)
}

// restartTunnel starts the tunnel again from the state file's command, on
// the same port, and records the new pid.
func (m *mount) restartTunnel(st *mountstate.Fallback, cause string) {
	log := m.log.With(zap.String("cause", cause), zap.Int("old_pid", st.PID), zap.Int("attempt", m.tun.Trouble.Restarts))
	// The dead tunnel is our child if we had restarted it before: reap it
	// once the new one is started (the kernel client is waiting for that).
	defer reapChild(st.PID, killWait)
	tun, err := m.w.o.StartTunnel(st.Cmd, flagValue(st.Cmd, "--log-file"))
	if err != nil {
		log.Error("restarting the tunnel failed", zap.Error(err))
		return
	}
	st.PID = tun.Pid()
	if st.PIDStart, err = mountstate.ProcessStart(st.PID); err != nil {
		log.Error("tunnel restarted, but its start time could not be read", zap.Error(err), zap.Int("pid", st.PID))
	}
	if err := mountstate.Write(filepath.Dir(m.path), filepath.Base(m.path), st); err != nil {
		log.Error("tunnel restarted, but its state file could not be updated", zap.Error(err), zap.Int("pid", st.PID))
		return
	}
	log.Info("tunnel restarted", zap.Int("pid", st.PID))
}

// flagValue returns the value of flag in argv ("" if absent).
func flagValue(argv []string, flag string) string {
	for i, a := range argv {
		if a == flag && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return ""
}

package watchdog

import (
	"fmt"
	"time"
)

// Probe is what the last health probe (statfs of the mount point) said.
type Probe int

const (
	// ProbeNone: no probe finished since the last poll and none is overdue.
	ProbeNone Probe = iota
	ProbeOK
	// ProbeHung: the probe has been in flight longer than its timeout.
	ProbeHung
	// ProbeNotConnected: ENOTCONN, the FUSE daemon behind the mount is gone.
	ProbeNotConnected
	// ProbeFailed: any other error (EIO on a soft mount, for one).
	ProbeFailed
)

func (p Probe) String() string {
	return [...]string{"none", "ok", "hung", "not connected", "failed"}[p]
}

// Action is what a loop does after a decision.
type Action int

const (
	ActNone Action = iota
	// ActRestartSession sends the serving process RestartSessionSignal.
	ActRestartSession
	// ActRemount lazily unmounts and runs the state file's command.
	ActRemount
	// ActRemoveState removes the state file of a mount that is gone.
	ActRemoveState
	// ActRestartTunnel starts the tunnel again from the state file's cmd.
	ActRestartTunnel
	// ActKillTunnel SIGKILLs a hung tunnel, then starts it again.
	ActKillTunnel
	// ActUnmountConfirmed only logs: the grace period before ActStopTunnel starts.
	ActUnmountConfirmed
	// ActStopTunnel SIGTERMs the tunnel and removes its state and files.
	ActStopTunnel
)

func (a Action) String() string {
	return [...]string{"none", "restart session", "remount", "remove state", "restart tunnel",
		"kill tunnel", "unmount confirmed", "stop tunnel"}[a]
}

// Decision is the outcome of one poll.
type Decision struct {
	Action Action
	Cause  string
	// StartProbe asks the loop to start a health probe now.
	StartProbe bool
	// Recovered is set (> 0) on the poll where a mount in trouble answers
	// again: how long the trouble lasted; Cause then says what it was.
	Recovered time.Duration
}

// Policy holds the numbers the decisions use; NewPolicy fills them from the
// config file.
type Policy struct {
	// ProbeTimeout bounds a FUSE mount's statfs; SIGUSR1 is re-sent at
	// most this often while the mount stays unresponsive.
	ProbeTimeout time.Duration
	// ProbeInterval spaces a FUSE mount's statfs probes. Liveness of the
	// serving process is checked every poll without touching the mount;
	// the probe is sparser because a statfs in flight makes a concurrent
	// umount fail with EBUSY.
	ProbeInterval time.Duration
	// Restart storms: StormAttempts restarts within StormWindow (or in one
	// episode of trouble) and the next waits BackoffBase, doubling up to
	// BackoffMax.
	StormWindow   time.Duration
	StormAttempts int
	BackoffBase   time.Duration
	BackoffMax    time.Duration
	// Tunnel mounts (EFS-FACTS section 3).
	UnmountCount   int           // unmount_count_for_consistency
	UnmountGrace   time.Duration // unmount_grace_period_sec
	HealthCheck    bool          // stunnel_health_check_enabled
	HealthInterval time.Duration // stunnel_health_check_interval_min
	HealthTimeout  time.Duration // stunnel_health_check_command_timeout_sec
}

// Trouble is an episode of a mount not working, from the first bad
// observation to the first good one.
type Trouble struct {
	Since time.Time // zero when healthy
	Cause string
	// LastAct is when the last signal or kill of the episode was sent.
	LastAct time.Time
	// Restarts counts remounts/tunnel restarts in this episode.
	Restarts int
	// ProcessGone: the episode began with the process dying, so a live
	// process after a restart ends it (no probe needed).
	ProcessGone bool
}

// Backoff limits restarts of one mount across episodes.
type Backoff struct {
	Attempts  []time.Time // restarts within the storm window
	NotBefore time.Time
}

// allow reports whether a restart may run now, and if so records it and
// sets the wait before the next one: after StormAttempts restarts in a
// minute (or in one episode that never recovered) each next one waits
// longer, so a process killed again and again (OOM) does not restart in a
// tight loop.
func (b *Backoff) allow(now time.Time, episode int, p Policy) bool {
	kept := b.Attempts[:0]
	for _, t := range b.Attempts {
		if now.Sub(t) < p.StormWindow {
			kept = append(kept, t)
		}
	}
	b.Attempts = kept
	if now.Before(b.NotBefore) {
		return false
	}
	b.Attempts = append(b.Attempts, now)
	storm := max(len(b.Attempts), episode+1)
	if storm >= p.StormAttempts {
		d := p.BackoffBase << min(storm-p.StormAttempts, 20)
		b.NotBefore = now.Add(min(d, p.BackoffMax))
	}
	return true
}

// begin starts an episode (keeping an existing one's start and cause).
func (t *Trouble) begin(now time.Time, cause string) {
	if t.Since.IsZero() {
		t.Since, t.Cause = now, cause
	}
}

// end closes an episode and returns the decision that reports it.
func (t *Trouble) end(now time.Time) Decision {
	d := Decision{Recovered: max(now.Sub(t.Since), time.Nanosecond), Cause: t.Cause}
	*t = Trouble{}
	return d
}

// probeDue reports whether a mount last probed at last (zero: never) and
// mounted at mounted is due for a probe every interval. A mount younger
// than newMountQuiet (or interval, if shorter) is not probed yet: its mount
// command has just checked it, and a statfs holds the mount busy while it
// runs, so probing at once made a prompt umount(8) fail with "target is
// busy" now and then (the tests that mount and unmount within a second).
func probeDue(now, last, mounted time.Time, interval time.Duration) bool {
	if last.IsZero() {
		return mounted.IsZero() || now.Sub(mounted) >= min(interval, newMountQuiet)
	}
	return now.Sub(last) >= interval
}

// newMountQuiet is how long a new mount goes unprobed (see probeDue).
const newMountQuiet = 5 * time.Second

// FUSEState is what the watchdog remembers about a FUSE mount between polls.
type FUSEState struct {
	Trouble Trouble
	Backoff Backoff
	// LastProbe is when the last probe started.
	LastProbe time.Time
}

// FUSEObservation is one poll of a FUSE mount.
type FUSEObservation struct {
	Now       time.Time
	MountTime time.Time // from the state file; zero if unknown
	PID       int
	Mounted   bool // in the mount table
	PIDAlive  bool // the serving process exists (and is not a zombie)
	Probe     Probe
	ProbeErr  string
	// ProbeInFlight: a probe started earlier has not returned yet.
	ProbeInFlight bool
}

// DecideFUSE decides what to do about a FUSE mount.
func DecideFUSE(s FUSEState, o FUSEObservation, p Policy) (FUSEState, Decision) {
	d := Decision{}
	if o.Mounted && o.PIDAlive && !o.ProbeInFlight && probeDue(o.Now, s.LastProbe, o.MountTime, p.ProbeInterval) {
		s.LastProbe = o.Now
		d.StartProbe = true
	}
	switch {
	case !o.Mounted && !o.PIDAlive && s.Trouble.Since.IsZero():
		// Unmounted without cleaning up (or a crash while no one watched).
		d.Action, d.Cause = ActRemoveState, fmt.Sprintf("not mounted and serving process %d is gone", o.PID)
	case !o.Mounted && !o.PIDAlive:
		// We lazily unmounted and the remount did not come up: retry.
		return remount(s, o.Now, "the remount did not come up", p)
	case !o.Mounted:
		// Unmounting: the serving process is flushing and will remove
		// its state file itself.
	case !o.PIDAlive:
		return remount(s, o.Now, fmt.Sprintf("serving process %d is gone", o.PID), p)
	case o.Probe == ProbeNotConnected:
		return remount(s, o.Now, "statfs: transport endpoint is not connected (the FUSE daemon died)", p)
	case o.Probe == ProbeHung || o.Probe == ProbeFailed:
		cause := fmt.Sprintf("statfs did not return within %v", p.ProbeTimeout)
		if o.Probe == ProbeFailed {
			cause = "statfs failed: " + o.ProbeErr
		}
		s.Trouble.begin(o.Now, cause)
		// A hung mount with a live daemon is a session that stopped
		// answering: restart the connection, but never remount it (a hard
		// mount waiting out a server outage must keep its pending writes).
		if s.Trouble.LastAct.IsZero() || o.Now.Sub(s.Trouble.LastAct) >= p.ProbeTimeout {
			s.Trouble.LastAct = o.Now
			d.Action, d.Cause = ActRestartSession, cause
		}
	case o.Probe == ProbeOK && !s.Trouble.Since.IsZero():
		r := s.Trouble.end(o.Now)
		r.StartProbe = d.StartProbe
		return s, r
	}
	return s, d
}

func remount(s FUSEState, now time.Time, cause string, p Policy) (FUSEState, Decision) {
	s.Trouble.begin(now, cause)
	if !s.Backoff.allow(now, s.Trouble.Restarts, p) {
		return s, Decision{}
	}
	s.Trouble.Restarts++
	s.Trouble.LastAct = now
	s.LastProbe = now // the loop probes the new mount right after it
	return s, Decision{Action: ActRemount, Cause: cause}
}

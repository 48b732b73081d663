package watchdog

import (
	"fmt"
	"time"
)

// TunnelState is what the watchdog remembers about a tunnel mount.
type TunnelState struct {
	// Missing counts consecutive polls without the mount in the table.
	Missing int
	// UnmountedAt is when the unmount was confirmed (zero: not confirmed).
	UnmountedAt time.Time
	// LastCheck is when the last health check started.
	LastCheck time.Time
	Trouble   Trouble
	Backoff   Backoff
}

// TunnelObservation is one poll of a tunnel mount.
type TunnelObservation struct {
	Now           time.Time
	MountTime     time.Time
	PID           int
	Mounted       bool
	PIDAlive      bool
	Probe         Probe
	ProbeInFlight bool
}

// DecideTunnel decides what to do about a fallback mount, as the EFS
// helper's watchdog does (EFS-FACTS section 3): the unmount is confirmed
// after more than UnmountCount consecutive polls without the mount and
// never within UnmountGrace of the mount time (mount.nfs4 may not have
// finished); the tunnel is stopped UnmountGrace after that.
func DecideTunnel(s TunnelState, o TunnelObservation, p Policy) (TunnelState, Decision) {
	if !o.Mounted {
		s.Missing++
		s.Trouble = Trouble{} // nothing to repair on a mount that is going away
		switch {
		case !s.UnmountedAt.IsZero() && o.Now.Sub(s.UnmountedAt) >= p.UnmountGrace:
			return s, Decision{Action: ActStopTunnel, Cause: fmt.Sprintf("unmounted %v ago", o.Now.Sub(s.UnmountedAt).Round(time.Millisecond))}
		case s.UnmountedAt.IsZero() && s.Missing > p.UnmountCount && o.Now.Sub(o.MountTime) >= p.UnmountGrace:
			s.UnmountedAt = o.Now
			return s, Decision{Action: ActUnmountConfirmed,
				Cause: fmt.Sprintf("not in the mount table for %d consecutive polls", s.Missing)}
		}
		return s, Decision{}
	}
	s.Missing, s.UnmountedAt = 0, time.Time{}
	d := Decision{}
	if p.HealthCheck && o.PIDAlive && !o.ProbeInFlight && probeDue(o.Now, s.LastCheck, o.MountTime, p.HealthInterval) {
		s.LastCheck = o.Now
		d.StartProbe = true
	}
	switch {
	case !o.PIDAlive:
		cause := fmt.Sprintf("tunnel process %d is gone", o.PID)
		s.Trouble.begin(o.Now, cause)
		s.Trouble.ProcessGone = true
		if s.Backoff.allow(o.Now, s.Trouble.Restarts, p) {
			s.Trouble.Restarts++
			s.Trouble.LastAct = o.Now
			d.Action, d.Cause = ActRestartTunnel, cause
		}
	case o.Probe == ProbeHung:
		// A statfs stuck for HealthTimeout: the tunnel stopped relaying.
		// Kill it once per timeout; the stuck probe itself returns only
		// when the new tunnel answers.
		cause := fmt.Sprintf("health check: statfs did not return within %v", p.HealthTimeout)
		s.Trouble.begin(o.Now, cause)
		if (s.Trouble.LastAct.IsZero() || o.Now.Sub(s.Trouble.LastAct) >= p.HealthTimeout) && s.Backoff.allow(o.Now, s.Trouble.Restarts, p) {
			s.Trouble.Restarts++
			s.Trouble.LastAct = o.Now
			d.Action, d.Cause = ActKillTunnel, cause
		}
	case s.Trouble.ProcessGone && o.Now.After(s.Trouble.LastAct):
		// A restarted tunnel that is still alive a poll later is serving
		// again (the kernel client reconnects on its own).
		r := s.Trouble.end(o.Now)
		r.StartProbe = d.StartProbe
		return s, r
	case o.Probe == ProbeOK && !s.Trouble.Since.IsZero():
		r := s.Trouble.end(o.Now)
		r.StartProbe = d.StartProbe
		return s, r
	}
	return s, d
}

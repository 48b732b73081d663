package watchdog

import (
	"time"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
)

// Defaults for what the config file does not cover.
const (
	// DefaultFUSEProbeTimeout bounds a FUSE mount's statfs. The NFS client
	// reconnects by itself within seconds; a statfs stuck this long means
	// the session needs a push.
	DefaultFUSEProbeTimeout = 10 * time.Second
	// DefaultFUSEProbeInterval spaces FUSE statfs probes (see Policy).
	DefaultFUSEProbeInterval = 5 * time.Second
	defaultStormWindow       = time.Minute
	defaultStormAttempts     = 3
	defaultBackoffBase       = 30 * time.Second
	defaultBackoffMax        = 10 * time.Minute
)

// NewPolicy returns the policy for the [mount-watchdog] section.
func NewPolicy(c efsconfig.WatchdogSection) Policy {
	return Policy{
		ProbeTimeout:   DefaultFUSEProbeTimeout,
		ProbeInterval:  DefaultFUSEProbeInterval,
		StormWindow:    defaultStormWindow,
		StormAttempts:  defaultStormAttempts,
		BackoffBase:    defaultBackoffBase,
		BackoffMax:     defaultBackoffMax,
		UnmountCount:   c.UnmountCountForConsistency,
		UnmountGrace:   time.Duration(c.UnmountGracePeriodSec) * time.Second,
		HealthCheck:    c.StunnelHealthCheckEnabled,
		HealthInterval: time.Duration(c.StunnelHealthCheckIntervalMin) * time.Minute,
		HealthTimeout:  time.Duration(c.StunnelHealthCheckCommandTimeoutSec) * time.Second,
	}
}

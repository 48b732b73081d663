// Package efsconfig reads the EFS mount helper's configuration file,
// /etc/amazon/efs/efs-utils.conf, into typed values.
//
// The file is the one amazon-efs-utils reads, so existing hosts keep working
// unchanged: same sections, same keys, same defaults. A missing file is
// normal (every key has a default); a file that is present but malformed, or
// a value of the wrong type, is an error that names the file, section and key.
package efsconfig

import (
	"os"
	"strings"
)

// DefaultPath is where the EFS mount helper keeps its configuration.
const DefaultPath = "/etc/amazon/efs/efs-utils.conf"

// Section names as they appear in the file.
const (
	SectionDefault  = "DEFAULT"
	SectionMount    = "mount"
	SectionWatchdog = "mount-watchdog"
)

// Config is the whole configuration file, defaults filled in.
type Config struct {
	// Path is the file the values came from (informational; the file may not exist).
	Path string

	Default  DefaultSection
	Mount    MountSection
	Watchdog WatchdogSection

	// Regions holds the [mount.<region>] sections, keyed by region name.
	Regions map[string]RegionSection

	// Warnings lists values that were ignored in favour of a default (as the
	// helper does for an unknown logging_level); the caller logs them once
	// its logger exists.
	Warnings []string
}

// DefaultSection is [DEFAULT].
type DefaultSection struct {
	LoggingLevel     string      // logging_level: DEBUG, INFO, WARNING, ERROR or CRITICAL
	LoggingMaxBytes  int64       // logging_max_bytes
	LoggingFileCount int         // logging_file_count
	StateFileDirMode os.FileMode // state_file_dir_mode, octal in the file (750)
}

// MountSection is [mount].
type MountSection struct {
	DNSNameFormat string // dns_name_format
	// DNSNameSuffixSet records whether dns_name_suffix was in the file: when
	// it was not, the suffix depends on the region (amazonaws.com.cn in cn-*).
	DNSNameSuffix                  string
	DNSNameSuffixSet               bool
	Region                         string // region; empty when not configured
	StunnelCAFile                  string // stunnel_cafile
	StunnelCheckCertHostname       bool   // stunnel_check_cert_hostname
	StunnelCheckCertValidity       bool   // stunnel_check_cert_validity
	PortRangeLowerBound            int    // port_range_lower_bound (inclusive)
	PortRangeUpperBound            int    // port_range_upper_bound (exclusive)
	FallBackToMountTargetIPAddress bool   // fall_back_to_mount_target_ip_address_enabled
}

// RegionSection is a [mount.<region>] override; empty strings mean "not set".
type RegionSection struct {
	DNSNameSuffix string // dns_name_suffix
	StunnelCAFile string // stunnel_cafile
}

// WatchdogSection is [mount-watchdog].
type WatchdogSection struct {
	Enabled                             bool // enabled
	PollIntervalSec                     int  // poll_interval_sec
	UnmountCountForConsistency          int  // unmount_count_for_consistency
	UnmountGracePeriodSec               int  // unmount_grace_period_sec
	TLSCertRenewalIntervalMin           int  // tls_cert_renewal_interval_min
	StunnelHealthCheckEnabled           bool // stunnel_health_check_enabled
	StunnelHealthCheckIntervalMin       int  // stunnel_health_check_interval_min
	StunnelHealthCheckCommandTimeoutSec int  // stunnel_health_check_command_timeout_sec
}

// Built-in defaults, the same as the helper's shipped configuration file.
const (
	DefaultDNSNameFormat = "{az}.{fs_id}.efs.{region}.{dns_name_suffix}"
	DefaultDNSNameSuffix = "amazonaws.com"
	// ChinaDNSNameSuffix is used for cn-* regions unless a suffix is configured.
	ChinaDNSNameSuffix = "amazonaws.com.cn"
	DefaultCAFile      = "/etc/amazon/efs/efs-utils.crt"
)

// Default returns the configuration used when no file exists.
func Default() *Config {
	return &Config{
		Path: DefaultPath,
		Default: DefaultSection{
			LoggingLevel:     "INFO",
			LoggingMaxBytes:  1048576,
			LoggingFileCount: 10,
			StateFileDirMode: 0o750,
		},
		Mount: MountSection{
			DNSNameFormat:                  DefaultDNSNameFormat,
			DNSNameSuffix:                  DefaultDNSNameSuffix,
			StunnelCAFile:                  DefaultCAFile,
			StunnelCheckCertHostname:       true,
			StunnelCheckCertValidity:       false,
			PortRangeLowerBound:            20049,
			PortRangeUpperBound:            21049,
			FallBackToMountTargetIPAddress: true,
		},
		Watchdog: WatchdogSection{
			Enabled:                             true,
			PollIntervalSec:                     1,
			UnmountCountForConsistency:          5,
			UnmountGracePeriodSec:               30,
			TLSCertRenewalIntervalMin:           60,
			StunnelHealthCheckEnabled:           true,
			StunnelHealthCheckIntervalMin:       5,
			StunnelHealthCheckCommandTimeoutSec: 30,
		},
		Regions: map[string]RegionSection{},
	}
}

// DNSNameSuffix returns the suffix for region: a [mount.<region>] override,
// else a configured [mount] suffix, else amazonaws.com.cn for cn-* regions
// and amazonaws.com elsewhere.
func (c *Config) DNSNameSuffix(region string) string {
	if r, ok := c.Regions[region]; ok && r.DNSNameSuffix != "" {
		return r.DNSNameSuffix
	}
	if c.Mount.DNSNameSuffixSet && c.Mount.DNSNameSuffix != "" {
		return c.Mount.DNSNameSuffix
	}
	if strings.HasPrefix(region, "cn-") {
		return ChinaDNSNameSuffix
	}
	return DefaultDNSNameSuffix
}

// CAFile returns the CA bundle for region: a [mount.<region>] override, else
// [mount] stunnel_cafile.
func (c *Config) CAFile(region string) string {
	if r, ok := c.Regions[region]; ok && r.StunnelCAFile != "" {
		return r.StunnelCAFile
	}
	return c.Mount.StunnelCAFile
}

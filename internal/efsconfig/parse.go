package efsconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"gopkg.in/ini.v1"
)

// Error reports a bad value: which file, section and key, and why.
type Error struct {
	File, Section, Key, Value string
	Reason                    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: [%s] %s = %q: %s", e.File, e.Section, e.Key, e.Value, e.Reason)
}

// Load reads the configuration at path. A missing file yields the defaults.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		c := Default()
		c.Path = path
		return c, nil
	}
	if errors.Is(err, fs.ErrPermission) {
		// A user who may not read the host's config (a non-root or
		// user-namespace mount) still mounts, with the defaults.
		c := Default()
		c.Path = path
		c.Warnings = append(c.Warnings, fmt.Sprintf("cannot read %s (%v); using the default configuration", path, err))
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	return Parse(path, data)
}

// Parse parses the content of a configuration file; path is used in errors.
func Parse(path string, data []byte) (cfg *Config, err error) {
	// The INI library is third-party code fed with arbitrary file content; a
	// bug there must become an error, never take the mount down.
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, fmt.Errorf("%s: malformed configuration file: %v", path, r)
		}
	}()
	f, err := ini.LoadSources(ini.LoadOptions{
		// Python's configparser, which the helper uses, lower-cases keys
		// and only knows whole-line comments.
		InsensitiveKeys:     true,
		IgnoreInlineComment: true,
		// The default is "."; with it [mount.us-east-1] would inherit
		// [mount] keys and per-region overrides could not be told apart.
		ChildSectionDelimiter: "\x00",
	}, data)
	if err != nil {
		return nil, fmt.Errorf("%s: malformed configuration file: %w", path, err)
	}
	p := &parser{path: path, file: f, cfg: Default()}
	p.cfg.Path = path
	p.parse()
	if p.err != nil {
		return nil, p.err
	}
	return p.cfg, nil
}

// parser keeps the first error so each field is a single line below.
type parser struct {
	path string
	file *ini.File
	cfg  *Config
	err  error
}

func (p *parser) parse() {
	c := p.cfg
	d := &c.Default
	if lvl, ok := p.str(SectionDefault, "logging_level"); ok {
		up := strings.ToUpper(strings.TrimSpace(lvl))
		switch up {
		case "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL":
			d.LoggingLevel = up
		default:
			// The helper logs and carries on at INFO; so do we.
			c.Warnings = append(c.Warnings, fmt.Sprintf(
				"Malformed logging level %q in %s, setting logging level to INFO", lvl, p.path))
		}
	}
	p.int64(SectionDefault, "logging_max_bytes", &d.LoggingMaxBytes, 1)
	p.int(SectionDefault, "logging_file_count", &d.LoggingFileCount, 0)
	p.mode(SectionDefault, "state_file_dir_mode", &d.StateFileDirMode)

	m := &c.Mount
	if v, ok := p.str(SectionMount, "dns_name_format"); ok {
		m.DNSNameFormat = v
	}
	if v, ok := p.str(SectionMount, "dns_name_suffix"); ok {
		m.DNSNameSuffix, m.DNSNameSuffixSet = v, true
	}
	if v, ok := p.str(SectionMount, "region"); ok {
		m.Region = v
	}
	if v, ok := p.str(SectionMount, "stunnel_cafile"); ok {
		m.StunnelCAFile = v
	}
	p.bool(SectionMount, "stunnel_check_cert_hostname", &m.StunnelCheckCertHostname)
	p.bool(SectionMount, "stunnel_check_cert_validity", &m.StunnelCheckCertValidity)
	p.int(SectionMount, "port_range_lower_bound", &m.PortRangeLowerBound, 1)
	p.int(SectionMount, "port_range_upper_bound", &m.PortRangeUpperBound, 1)
	p.bool(SectionMount, "fall_back_to_mount_target_ip_address_enabled", &m.FallBackToMountTargetIPAddress)
	if p.err == nil && (m.PortRangeUpperBound > 65536 || m.PortRangeLowerBound >= m.PortRangeUpperBound) {
		p.fail(SectionMount, "port_range_upper_bound", strconv.Itoa(m.PortRangeUpperBound),
			fmt.Sprintf("must be above port_range_lower_bound (%d) and at most 65536", m.PortRangeLowerBound))
	}

	w := &c.Watchdog
	p.bool(SectionWatchdog, "enabled", &w.Enabled)
	p.int(SectionWatchdog, "poll_interval_sec", &w.PollIntervalSec, 1)
	p.int(SectionWatchdog, "unmount_count_for_consistency", &w.UnmountCountForConsistency, 0)
	p.int(SectionWatchdog, "unmount_grace_period_sec", &w.UnmountGracePeriodSec, 0)
	p.int(SectionWatchdog, "tls_cert_renewal_interval_min", &w.TLSCertRenewalIntervalMin, 1)
	p.bool(SectionWatchdog, "stunnel_health_check_enabled", &w.StunnelHealthCheckEnabled)
	p.int(SectionWatchdog, "stunnel_health_check_interval_min", &w.StunnelHealthCheckIntervalMin, 1)
	p.int(SectionWatchdog, "stunnel_health_check_command_timeout_sec", &w.StunnelHealthCheckCommandTimeoutSec, 1)

	for _, sec := range p.file.Sections() {
		region, ok := strings.CutPrefix(sec.Name(), SectionMount+".")
		if !ok || region == "" {
			continue
		}
		var r RegionSection
		r.DNSNameSuffix, _ = p.str(sec.Name(), "dns_name_suffix")
		r.StunnelCAFile, _ = p.str(sec.Name(), "stunnel_cafile")
		c.Regions[region] = r
	}
}

// str returns the value of key in section, falling back to [DEFAULT] as
// Python's configparser does. ok is false when the key is set nowhere.
func (p *parser) str(section, key string) (string, bool) {
	if sec, err := p.file.GetSection(section); err == nil {
		if v, ok := sec.KeysHash()[key]; ok {
			return strings.TrimSpace(v), true
		}
	}
	if sec, err := p.file.GetSection(ini.DefaultSection); err == nil {
		if v, ok := sec.KeysHash()[key]; ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func (p *parser) fail(section, key, value, reason string) {
	if p.err == nil {
		p.err = &Error{File: p.path, Section: section, Key: key, Value: value, Reason: reason}
	}
}

func (p *parser) int(section, key string, dst *int, min int) {
	var v int64
	if p.int64(section, key, &v, int64(min)) {
		*dst = int(v)
	}
}

func (p *parser) int64(section, key string, dst *int64, min int64) bool {
	s, ok := p.str(section, key)
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		p.fail(section, key, s, "not an integer")
		return false
	}
	if n < min {
		p.fail(section, key, s, fmt.Sprintf("must be at least %d", min))
		return false
	}
	*dst = n
	return true
}

// bool accepts what configparser.getboolean accepts.
func (p *parser) bool(section, key string, dst *bool) {
	s, ok := p.str(section, key)
	if !ok {
		return
	}
	switch strings.ToLower(s) {
	case "1", "yes", "true", "on":
		*dst = true
	case "0", "no", "false", "off":
		*dst = false
	default:
		p.fail(section, key, s, "not a boolean (true/false, yes/no, on/off, 1/0)")
	}
}

// mode parses an octal permission such as 750, as the helper does with int(v, 8).
func (p *parser) mode(section, key string, dst *os.FileMode) {
	s, ok := p.str(section, key)
	if !ok {
		return
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0o"), 8, 32)
	if err != nil || n > 0o777 {
		p.fail(section, key, s, "not an octal permission mode such as 750")
		return
	}
	*dst = os.FileMode(n)
}

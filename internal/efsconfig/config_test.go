package efsconfig_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
)

// stockConfig is the shape of the file amazon-efs-utils installs.
const stockConfig = `
[DEFAULT]
logging_level = INFO
logging_max_bytes = 1048576
logging_file_count = 10
# mode for /var/run/efs and subdirectories in octal
state_file_dir_mode = 750

[mount]
dns_name_format = {az}.{fs_id}.efs.{region}.{dns_name_suffix}
dns_name_suffix = amazonaws.com
#The region of the file system when mounting from on-premises or cross region.
#region = us-east-1
stunnel_debug_enabled = false
stunnel_cafile = /etc/amazon/efs/efs-utils.crt
stunnel_check_cert_hostname = true
stunnel_check_cert_validity = false
port_range_lower_bound = 20049
port_range_upper_bound = 21049
fall_back_to_mount_target_ip_address_enabled = true

[mount.cn-north-1]
dns_name_suffix = amazonaws.com.cn

[mount.us-iso-east-1]
dns_name_suffix = c2s.ic.gov
stunnel_cafile = /etc/amazon/efs/efs-utils-iso.crt

[mount-watchdog]
enabled = true
poll_interval_sec = 1
unmount_count_for_consistency = 5
unmount_grace_period_sec = 30
tls_cert_renewal_interval_min = 60
stunnel_health_check_enabled = true
stunnel_health_check_interval_min = 5
stunnel_health_check_command_timeout_sec = 30
`

func TestDefaults(t *testing.T) {
	c := efsconfig.Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"logging_level", c.Default.LoggingLevel, "INFO"},
		{"logging_max_bytes", c.Default.LoggingMaxBytes, int64(1048576)},
		{"logging_file_count", c.Default.LoggingFileCount, 10},
		{"state_file_dir_mode", c.Default.StateFileDirMode, os.FileMode(0o750)},
		{"dns_name_format", c.Mount.DNSNameFormat, "{az}.{fs_id}.efs.{region}.{dns_name_suffix}"},
		{"dns_name_suffix", c.Mount.DNSNameSuffix, "amazonaws.com"},
		{"region", c.Mount.Region, ""},
		{"stunnel_cafile", c.Mount.StunnelCAFile, "/etc/amazon/efs/efs-utils.crt"},
		{"stunnel_check_cert_hostname", c.Mount.StunnelCheckCertHostname, true},
		{"stunnel_check_cert_validity", c.Mount.StunnelCheckCertValidity, false},
		{"port_range_lower_bound", c.Mount.PortRangeLowerBound, 20049},
		{"port_range_upper_bound", c.Mount.PortRangeUpperBound, 21049},
		{"fall_back_to_mount_target_ip_address_enabled", c.Mount.FallBackToMountTargetIPAddress, true},
		{"enabled", c.Watchdog.Enabled, true},
		{"poll_interval_sec", c.Watchdog.PollIntervalSec, 1},
		{"unmount_count_for_consistency", c.Watchdog.UnmountCountForConsistency, 5},
		{"unmount_grace_period_sec", c.Watchdog.UnmountGracePeriodSec, 30},
		{"tls_cert_renewal_interval_min", c.Watchdog.TLSCertRenewalIntervalMin, 60},
		{"stunnel_health_check_enabled", c.Watchdog.StunnelHealthCheckEnabled, true},
		{"stunnel_health_check_interval_min", c.Watchdog.StunnelHealthCheckIntervalMin, 5},
		{"stunnel_health_check_command_timeout_sec", c.Watchdog.StunnelHealthCheckCommandTimeoutSec, 30},
	}
	for _, tc := range checks {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
}

func TestLoadMissingFileIsDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.conf")
	c, err := efsconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := efsconfig.Default()
	want.Path = path
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, want defaults", c)
	}
}

func TestLoadStockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "efs-utils.conf")
	if err := os.WriteFile(path, []byte(stockConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := efsconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := efsconfig.Default()
	want.Path = path
	want.Mount.DNSNameSuffixSet = true
	want.Regions = map[string]efsconfig.RegionSection{
		"cn-north-1":    {DNSNameSuffix: "amazonaws.com.cn"},
		"us-iso-east-1": {DNSNameSuffix: "c2s.ic.gov", StunnelCAFile: "/etc/amazon/efs/efs-utils-iso.crt"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name  string
		input string
		check func(*efsconfig.Config) bool
	}{
		{"LevelLowerCase", "[DEFAULT]\nlogging_level = debug\n", func(c *efsconfig.Config) bool { return c.Default.LoggingLevel == "DEBUG" }},
		{"LevelBadFallsBackToInfo", "[DEFAULT]\nlogging_level = LOUD\n", func(c *efsconfig.Config) bool {
			return c.Default.LoggingLevel == "INFO" && len(c.Warnings) == 1
		}},
		{"Mode", "[DEFAULT]\nstate_file_dir_mode = 700\n", func(c *efsconfig.Config) bool { return c.Default.StateFileDirMode == 0o700 }},
		{"BoolYesNo", "[mount]\nstunnel_check_cert_hostname = no\nstunnel_check_cert_validity = On\n", func(c *efsconfig.Config) bool {
			return !c.Mount.StunnelCheckCertHostname && c.Mount.StunnelCheckCertValidity
		}},
		{"Region", "[mount]\nregion = eu-west-1\n", func(c *efsconfig.Config) bool { return c.Mount.Region == "eu-west-1" }},
		{"KeysCaseInsensitive", "[mount]\nRegion = eu-west-1\n", func(c *efsconfig.Config) bool { return c.Mount.Region == "eu-west-1" }},
		{"DefaultSectionInherited", "[DEFAULT]\nregion = ap-south-1\n", func(c *efsconfig.Config) bool { return c.Mount.Region == "ap-south-1" }},
		{"HashInValueIsNotAComment", "[mount]\nstunnel_cafile = /etc/ca#1.crt\n", func(c *efsconfig.Config) bool { return c.Mount.StunnelCAFile == "/etc/ca#1.crt" }},
		{"RegionSectionDoesNotInheritMount", "[mount]\ndns_name_suffix = example.com\n[mount.eu-west-1]\nstunnel_cafile = /x\n", func(c *efsconfig.Config) bool {
			return c.Regions["eu-west-1"].DNSNameSuffix == "" && c.DNSNameSuffix("eu-west-1") == "example.com"
		}},
		{"Watchdog", "[mount-watchdog]\nenabled = false\npoll_interval_sec = 3\n", func(c *efsconfig.Config) bool {
			return !c.Watchdog.Enabled && c.Watchdog.PollIntervalSec == 3
		}},
		{"Empty", "", func(c *efsconfig.Config) bool { return c.Mount.PortRangeLowerBound == 20049 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := efsconfig.Parse("test.conf", []byte(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, input  string
		section, key string
	}{
		{"MaxBytesNotInt", "[DEFAULT]\nlogging_max_bytes = 1MB\n", "DEFAULT", "logging_max_bytes"},
		{"FileCountNotInt", "[DEFAULT]\nlogging_file_count = ten\n", "DEFAULT", "logging_file_count"},
		{"ModeNotOctal", "[DEFAULT]\nstate_file_dir_mode = 789\n", "DEFAULT", "state_file_dir_mode"},
		{"ModeTooLarge", "[DEFAULT]\nstate_file_dir_mode = 7777\n", "DEFAULT", "state_file_dir_mode"},
		{"LowerBoundNotInt", "[mount]\nport_range_lower_bound = x\n", "mount", "port_range_lower_bound"},
		{"RangeInverted", "[mount]\nport_range_lower_bound = 3000\nport_range_upper_bound = 2000\n", "mount", "port_range_upper_bound"},
		{"BoolBad", "[mount]\nstunnel_check_cert_hostname = maybe\n", "mount", "stunnel_check_cert_hostname"},
		{"PollNotInt", "[mount-watchdog]\npoll_interval_sec = 1.5\n", "mount-watchdog", "poll_interval_sec"},
		{"PollZero", "[mount-watchdog]\npoll_interval_sec = 0\n", "mount-watchdog", "poll_interval_sec"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := efsconfig.Parse("/etc/x.conf", []byte(tc.input))
			var ce *efsconfig.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *efsconfig.Error", err)
			}
			if ce.File != "/etc/x.conf" || ce.Section != tc.section || ce.Key != tc.key {
				t.Errorf("err names %s [%s] %s, want [%s] %s", ce.File, ce.Section, ce.Key, tc.section, tc.key)
			}
			msg := err.Error()
			for _, part := range []string{"/etc/x.conf", "[" + tc.section + "]", tc.key} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	_, err := efsconfig.Parse("/etc/x.conf", []byte("[mount\nregion = x\n"))
	if err == nil || !strings.Contains(err.Error(), "/etc/x.conf") {
		t.Fatalf("err = %v, want an error naming the file", err)
	}
}

func TestDNSNameSuffixAndCAFile(t *testing.T) {
	stock, err := efsconfig.Parse("stock", []byte(stockConfig))
	if err != nil {
		t.Fatal(err)
	}
	def := efsconfig.Default()
	tests := []struct {
		name           string
		cfg            *efsconfig.Config
		region         string
		suffix, cafile string
	}{
		{"DefaultCommercial", def, "us-east-1", "amazonaws.com", "/etc/amazon/efs/efs-utils.crt"},
		{"DefaultChina", def, "cn-northwest-1", "amazonaws.com.cn", "/etc/amazon/efs/efs-utils.crt"},
		{"StockChinaSection", stock, "cn-north-1", "amazonaws.com.cn", "/etc/amazon/efs/efs-utils.crt"},
		{"StockIsoOverrides", stock, "us-iso-east-1", "c2s.ic.gov", "/etc/amazon/efs/efs-utils-iso.crt"},
		{"StockConfiguredSuffixWins", stock, "cn-northwest-1", "amazonaws.com", "/etc/amazon/efs/efs-utils.crt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.DNSNameSuffix(tc.region); got != tc.suffix {
				t.Errorf("DNSNameSuffix(%q) = %q, want %q", tc.region, got, tc.suffix)
			}
			if got := tc.cfg.CAFile(tc.region); got != tc.cafile {
				t.Errorf("CAFile(%q) = %q, want %q", tc.region, got, tc.cafile)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(stockConfig))
	f.Add([]byte("[DEFAULT]\nlogging_max_bytes = -1\n"))
	f.Add([]byte("[mount.]\n[mount.x]\ndns_name_suffix\n"))
	f.Add([]byte("[\n=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := efsconfig.Parse("fuzz.conf", data)
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err == nil {
			_ = c.DNSNameSuffix("cn-north-1")
			_ = c.CAFile("us-east-1")
		}
	})
}

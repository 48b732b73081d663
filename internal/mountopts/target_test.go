package mountopts_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in   string
		want mountopts.Device
	}{
		{"fs-12345678", mountopts.Device{FSID: "fs-12345678", Path: "/"}},
		{"fs-12345678:", mountopts.Device{FSID: "fs-12345678", Path: "/"}},
		{"fs-12345678:/", mountopts.Device{FSID: "fs-12345678", Path: "/"}},
		{"fs-0123456789abcdef0:/data/x", mountopts.Device{FSID: "fs-0123456789abcdef0", Path: "/data/x"}},
		{"fs-12345678.efs.us-east-1.amazonaws.com:/a", mountopts.Device{FSID: "fs-12345678", Path: "/a",
			Host: "fs-12345678.efs.us-east-1.amazonaws.com", Region: "us-east-1", Suffix: "amazonaws.com"}},
		{"us-east-1a.fs-12345678.efs.us-east-1.amazonaws.com", mountopts.Device{FSID: "fs-12345678", Path: "/",
			Host: "us-east-1a.fs-12345678.efs.us-east-1.amazonaws.com", AZ: "us-east-1a", Region: "us-east-1", Suffix: "amazonaws.com"}},
		{"FS-12345678.EFS.cn-north-1.amazonaws.com.cn.", mountopts.Device{FSID: "fs-12345678", Path: "/",
			Host: "fs-12345678.efs.cn-north-1.amazonaws.com.cn", Region: "cn-north-1", Suffix: "amazonaws.com.cn"}},
		{"efs.example.com:/", mountopts.Device{Path: "/", Host: "efs.example.com"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := mountopts.ParseDevice(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParseDevice(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseDeviceErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `Invalid device "": expected fs-id[:/path], e.g. fs-12345678:/`},
		{":/x", `Invalid device ":/x": expected fs-id[:/path], e.g. fs-12345678:/`},
		{"fs-XYZ:/", `File system ID fs-XYZ is malformed`},
		{"fs-12345678:data", `Invalid path "data" in device "fs-12345678:data": the path must start with /`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, err := mountopts.ParseDevice(tc.in)
			var ue *mountopts.UsageError
			if !errors.As(err, &ue) || ue.Msg != tc.want {
				t.Errorf("ParseDevice(%q) err = %v, want %s", tc.in, err, tc.want)
			}
		})
	}
}

func TestResolveCNAME(t *testing.T) {
	d, _ := mountopts.ParseDevice("efs.example.com:/x")
	got, err := mountopts.ResolveCNAME(d, func(string) ([]string, error) {
		return []string{"other.example.com.", "us-west-2b.fs-abcdef01.efs.us-west-2.amazonaws.com."}, nil
	})
	if err != nil || got.FSID != "fs-abcdef01" || got.AZ != "us-west-2b" || got.Region != "us-west-2" || got.Path != "/x" {
		t.Errorf("got %+v, %v", got, err)
	}
	_, err = mountopts.ResolveCNAME(d, func(string) ([]string, error) { return []string{"www.example.com"}, nil })
	if err == nil || !strings.Contains(err.Error(), `The specified CNAME "efs.example.com" did not resolve to a valid DNS name for an EFS mount target`) {
		t.Errorf("err = %v", err)
	}
	_, err = mountopts.ResolveCNAME(d, func(string) ([]string, error) { return nil, errors.New("nxdomain") })
	if err == nil || !strings.HasPrefix(err.Error(), `Failed to resolve "efs.example.com"`) {
		t.Errorf("err = %v", err)
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDNSName(t *testing.T) {
	def := efsconfig.Default()
	legacy := efsconfig.Default()
	legacy.Mount.DNSNameFormat = "{fs_id}.efs.{region}.amazonaws.com"
	noRegion := efsconfig.Default()
	noRegion.Mount.DNSNameFormat = "{fs_id}.nfs.internal"
	tests := []struct {
		name, opts string
		cfg        *efsconfig.Config
		want       mountopts.Target
	}{
		{"Plain", "region=us-east-1", def, mountopts.Target{DialAddr: "fs-12345678.efs.us-east-1.amazonaws.com:2049",
			ServerName: "fs-12345678.efs.us-east-1.amazonaws.com", DNSName: "fs-12345678.efs.us-east-1.amazonaws.com", Region: "us-east-1"}},
		{"AZ", "region=us-east-1,az=us-east-1a", def, mountopts.Target{DialAddr: "us-east-1a.fs-12345678.efs.us-east-1.amazonaws.com:2049",
			ServerName: "us-east-1a.fs-12345678.efs.us-east-1.amazonaws.com", DNSName: "us-east-1a.fs-12345678.efs.us-east-1.amazonaws.com", Region: "us-east-1"}},
		{"China", "region=cn-north-1", def, mountopts.Target{DialAddr: "fs-12345678.efs.cn-north-1.amazonaws.com.cn:2049",
			ServerName: "fs-12345678.efs.cn-north-1.amazonaws.com.cn", DNSName: "fs-12345678.efs.cn-north-1.amazonaws.com.cn", Region: "cn-north-1"}},
		{"MountTargetIP", "region=eu-west-1,az=eu-west-1b,mounttargetip=10.1.2.3", def, mountopts.Target{DialAddr: "10.1.2.3:2049",
			ServerName: "fs-12345678.efs.eu-west-1.amazonaws.com", DNSName: "eu-west-1b.fs-12345678.efs.eu-west-1.amazonaws.com", Region: "eu-west-1"}},
		{"MountTargetIPv6AndPort", "region=eu-west-1,mounttargetip=::1,mounttargetport=20490", def, mountopts.Target{DialAddr: "[::1]:20490",
			ServerName: "fs-12345678.efs.eu-west-1.amazonaws.com", DNSName: "fs-12345678.efs.eu-west-1.amazonaws.com", Region: "eu-west-1"}},
		{"LegacyFormat", "region=us-east-2,az=x", legacy, mountopts.Target{DialAddr: "fs-12345678.efs.us-east-2.amazonaws.com:2049",
			ServerName: "fs-12345678.efs.us-east-2.amazonaws.com", DNSName: "fs-12345678.efs.us-east-2.amazonaws.com", Region: "us-east-2"}},
		{"FormatWithoutRegionNeedsNone", "", noRegion, mountopts.Target{DialAddr: "fs-12345678.nfs.internal:2049",
			ServerName: "fs-12345678.nfs.internal", DNSName: "fs-12345678.nfs.internal"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := mountopts.Parse(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mountopts.DNSName(context.Background(), "fs-12345678", o, tc.cfg, mountopts.RegionSources{})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDNSNameSuffixFromConfig(t *testing.T) {
	cfg, err := efsconfig.Parse("c", []byte("[mount.us-iso-east-1]\ndns_name_suffix = c2s.ic.gov\n"))
	if err != nil {
		t.Fatal(err)
	}
	o, _ := mountopts.Parse("region=us-iso-east-1")
	got, err := mountopts.DNSName(context.Background(), "fs-1", o, cfg, mountopts.RegionSources{})
	if err != nil || got.DNSName != "fs-1.efs.us-iso-east-1.c2s.ic.gov" {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestDNSNameBadFormat(t *testing.T) {
	for _, f := range []string{"{az}.efs.{region}.{dns_name_suffix}", "{fs_id}.{bogus}", "{fs_id}.{region"} {
		cfg := efsconfig.Default()
		cfg.Mount.DNSNameFormat = f
		o, _ := mountopts.Parse("region=r")
		_, err := mountopts.DNSName(context.Background(), "fs-1", o, cfg, mountopts.RegionSources{})
		var ue *mountopts.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("format %q: err = %v, want UsageError", f, err)
		}
	}
}

func TestRegionPrecedence(t *testing.T) {
	cfgWith := efsconfig.Default()
	cfgWith.Mount.Region = "from-config"
	imds := func(context.Context) (string, error) { return "from-imds", nil }
	imdsDown := func(context.Context) (string, error) { return "", errors.New("timeout") }
	tests := []struct {
		name, opts string
		env        map[string]string
		cfg        *efsconfig.Config
		imds       func(context.Context) (string, error)
		want       string
	}{
		{"OptionFirst", "region=from-opt", map[string]string{"AWS_REGION": "from-env"}, cfgWith, imds, "from-opt"},
		{"AWSRegion", "", map[string]string{"AWS_REGION": "from-env", "AWS_DEFAULT_REGION": "from-default"}, cfgWith, imds, "from-env"},
		{"AWSDefaultRegion", "", map[string]string{"AWS_DEFAULT_REGION": "from-default"}, cfgWith, imds, "from-default"},
		{"Config", "", nil, cfgWith, imds, "from-config"},
		{"IMDS", "", nil, efsconfig.Default(), imds, "from-imds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := mountopts.Parse(tc.opts)
			got, err := mountopts.Region(context.Background(), o, tc.cfg, mountopts.RegionSources{Getenv: env(tc.env), InstanceRegion: tc.imds})
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	o, _ := mountopts.Parse("")
	_, err := mountopts.Region(context.Background(), o, efsconfig.Default(), mountopts.RegionSources{Getenv: env(nil), InstanceRegion: imdsDown})
	var ue *mountopts.UsageError
	if !errors.As(err, &ue) || !strings.HasPrefix(ue.Msg, `Error retrieving region. Please set the "region" parameter in the efs-utils configuration file (/etc/amazon/efs/efs-utils.conf)`) ||
		!strings.Contains(ue.Msg, "timeout") {
		t.Errorf("err = %v", err)
	}
	_, err = mountopts.Region(context.Background(), o, efsconfig.Default(), mountopts.RegionSources{Getenv: env(map[string]string{"AWS_REGION": "bad region"})})
	if !errors.As(err, &ue) || ue.Msg != "Region bad region from AWS_REGION is malformed" {
		t.Errorf("err = %v", err)
	}
}

func TestApplyDevice(t *testing.T) {
	d, _ := mountopts.ParseDevice("us-east-1a.fs-12345678.efs.us-east-1.amazonaws.com:/")
	o, _ := mountopts.Parse("tls")
	if err := o.ApplyDevice(d); err != nil || o.AZ != "us-east-1a" || o.Region != "us-east-1" {
		t.Errorf("got az=%q region=%q err=%v", o.AZ, o.Region, err)
	}
	o, _ = mountopts.Parse("tls,az=us-east-1b,region=us-west-2")
	err := o.ApplyDevice(d)
	if err == nil || !strings.Contains(err.Error(), "expected = us-east-1a, given = us-east-1b") {
		t.Errorf("err = %v", err)
	}
}

func TestInstanceRegion(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" && r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") != "":
			fmt.Fprint(w, "tok")
		case r.Method == http.MethodGet && r.URL.Path == "/latest/meta-data/placement/region" && r.Header.Get("X-aws-ec2-metadata-token") == "tok":
			fmt.Fprint(w, "ap-southeast-2\n")
		default:
			http.Error(w, "no", http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	got, err := mountopts.InstanceRegion(context.Background(), srv.Client(), srv.URL)
	if err != nil || got != "ap-southeast-2" {
		t.Errorf("got %q, %v", got, err)
	}
}

package mountopts_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

// TestParseMessages pins every user-facing validation message: users and
// scripts match on them, so each must stay byte for byte.
func TestParseMessages(t *testing.T) {
	tests := []struct {
		name, opts, want string
	}{
		// The EFS mount helper's messages.
		{"PortAndTLS", "tls,port=2050", `The "port" and "tls" options are mutually exclusive`},
		{"TLSPortNotInteger", "tls,tlsport=abc", `tlsport option [abc] is not an integer`},
		{"TLSPortEmpty", "tls,tlsport", `tlsport option [] is not an integer`},
		{"OCSPAndNoOCSP", "tls,ocsp,noocsp", `The "ocsp" and "noocsp" options are mutually exclusive`},
		{"TLSAndNoTLS", "tls,notls", `The "tls" and "notls" options are mutually exclusive`},
		{"AccessPointNeedsTLS", "accesspoint=fsap-0123456789abcdef0", `The "tls" option is required when mounting via "accesspoint"`},
		{"AccessPointMalformed", "tls,accesspoint=fsap-123", `Access Point ID fsap-123 is malformed`},
		{"AccessPointUpperCase", "tls,accesspoint=fsap-0123456789ABCDEF0", `Access Point ID fsap-0123456789ABCDEF0 is malformed`},
		{"IAMNeedsTLS", "iam", `The "tls" option is required when mounting via "iam"`},
		{"AWSProfileNeedsIAM", "tls,awsprofile=dev", `The "iam" option is required when mounting with named profile option, "awsprofile"`},
		{"CAPath", "tls,capath=/etc/ssl/certs", `Unsupported mount options detected: "capath"`},
		{"AWSCredsURINeedsIAM", "tls,awscredsuri=/v2/credentials/x", `The "iam" option is required when mounting with "awscredsuri"`},
		{"AWSCredsURIAndProfile", "tls,iam,awsprofile=dev,awscredsuri=/v2/x", `The "awscredsuri" and "awsprofile" options are mutually exclusive`},
		{"AWSCredsURIMalformed", "tls,iam,awscredsuri=v2/x", `awscredsuri v2/x is malformed`},
		{"RoleARNNeedsIAM", "tls,rolearn=arn:aws:iam::1:role/r,jwtpath=/t", `The "iam" option is required when mounting with "rolearn"`},
		{"JWTPathNeedsIAM", "tls,jwtpath=/t", `The "iam" option is required when mounting with "jwtpath"`},
		// Ours.
		{"RoleARNWithoutJWTPath", "tls,iam,rolearn=arn:aws:iam::1:role/r", `The "rolearn" and "jwtpath" options must be used together`},
		{"TLSPortRange", "tls,tlsport=70000", `tlsport option [70000] is not a valid port (1-65535)`},
		{"VerifyNotInteger", "tls,verify=x", `verify option [x] is not an integer`},
		{"VerifyRange", "tls,verify=5", `verify option [5] must be between 0 and 4`},
		{"MountTargetPortNotInteger", "mounttargetport=x", `mounttargetport option [x] is not an integer`},
		{"MountTargetPortRange", "mounttargetport=0", `mounttargetport option [0] is not a valid port (1-65535)`},
		{"MountTargetIPMalformed", "mounttargetip=10.0.0", `Mount target IP address 10.0.0 is malformed`},
		{"AZMalformed", "az=US_EAST", `Availability zone name US_EAST is malformed`},
		{"RegionMalformed", "region=us.east", `Region us.east is malformed`},
		{"CAFileEmpty", "tls,cafile=", `The "cafile" option requires a value (cafile=...)`},
		{"NetNSEmpty", "tls,netns=", `The "netns" option requires a value (netns=...)`},
		{"NetNSRelative", "tls,netns=blue", `The "netns" option needs an absolute path (netns=/proc/PID/ns/net or netns=/var/run/netns/NAME), not blue`},
		{"CrossAccountWithoutIP", "tls,crossaccount", `The "crossaccount" option requires "mounttargetip=IP", the mount target in this instance's Availability Zone ID: efs-fuse does not look it up through the EFS API`},
		{"TimeoNotInteger", "timeo=1s", `timeo option [1s] is not an integer`},
		{"RsizeZero", "rsize=0", `rsize option [0] must be positive`},
		{"NConnectZero", "nconnect=0", `nconnect option [0] must be between 1 and 16`},
		{"NConnectTooMany", "nconnect=17", `nconnect option [17] must be between 1 and 16`},
		{"NConnectNotInteger", "nconnect=four", `nconnect option [four] is not an integer`},
		{"NFSVersion3", "nfsvers=3", `NFS version [3] is not supported: EFS serves NFS 4.0 and 4.1 (use nfsvers=4.1)`},
		{"NFSVersion42", "vers=4.2", `NFS version [4.2] is not supported: EFS serves NFS 4.0 and 4.1 (use nfsvers=4.1)`},
		{"MinorVersion2", "minorversion=2", `NFS minor version [2] is not supported: EFS serves NFS 4.0 and 4.1 (use nfsvers=4.1)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mountopts.Parse(tc.opts)
			var ue *mountopts.UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) err = %v, want *UsageError", tc.opts, err)
			}
			if ue.Msg != tc.want {
				t.Errorf("Parse(%q)\n got %s\nwant %s", tc.opts, ue.Msg, tc.want)
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	verify1 := 1
	tests := []struct {
		name, opts string
		want       mountopts.Options
	}{
		{"Empty", "", mountopts.Options{MountTargetPort: 2049}},
		{"TLS", "tls", mountopts.Options{TLS: true, MountTargetPort: 2049}},
		{"NoTLSWithPort", "notls,port=2050", mountopts.Options{NoTLS: true, MountTargetPort: 2049,
			NFS: []mountopts.Option{{Key: "port", Value: "2050", HasValue: true}}}},
		{"Everything", "tls,tlsport=20100,verify=1,cafile=/ca.pem,ocsp,iam,awsprofile=dev,accesspoint=fsap-0123456789abcdef0,mounttargetip=10.0.0.1,az=use1-az1,region=us-east-1,crossaccount,mounttargetport=3049,fallback",
			mountopts.Options{TLS: true, TLSPort: 20100, Verify: &verify1, CAFile: "/ca.pem", OCSP: true, IAM: true,
				AWSProfile: "dev", AccessPoint: "fsap-0123456789abcdef0", MountTargetIP: "10.0.0.1", AZ: "use1-az1",
				Region: "us-east-1", CrossAccount: true, MountTargetPort: 3049, Fallback: true}},
		{"NetNS", "tls,netns=/proc/1/ns/net", mountopts.Options{TLS: true, NetNS: "/proc/1/ns/net", MountTargetPort: 2049}},
		{"NetNSFallback", "tls,fallback,netns=/var/run/netns/blue", mountopts.Options{TLS: true, Fallback: true, NetNS: "/var/run/netns/blue", MountTargetPort: 2049}},
		{"StunnelIsFallback", "tls,stunnel", mountopts.Options{TLS: true, Fallback: true, MountTargetPort: 2049}},
		{"IAMWebIdentity", "tls,iam,rolearn=arn:aws:iam::1:role/r,jwtpath=/var/run/token", mountopts.Options{TLS: true, IAM: true,
			RoleARN: "arn:aws:iam::1:role/r", JWTPath: "/var/run/token", MountTargetPort: 2049}},
		{"AWSCredsURI", "tls,iam,awscredsuri=/v2/credentials/abc", mountopts.Options{TLS: true, IAM: true,
			AWSCredsURI: "/v2/credentials/abc", MountTargetPort: 2049}},
		{"NFSKeptInOrder", "rw,tls,soft,timeo=10,_netdev,x-systemd.automount,soft", mountopts.Options{TLS: true, MountTargetPort: 2049,
			NFS: []mountopts.Option{{Key: "rw"}, {Key: "soft"}, {Key: "timeo", Value: "10", HasValue: true}, {Key: "_netdev"},
				{Key: "x-systemd.automount"}, {Key: "soft"}}}},
		{"SpacesAndEmptyItems", " tls ,, ro ", mountopts.Options{TLS: true, MountTargetPort: 2049, NFS: []mountopts.Option{{Key: "ro"}}}},
		// The helper only checks ocsp/noocsp and port with tls; so do we for port.
		{"PortWithoutTLS", "port=2049", mountopts.Options{MountTargetPort: 2049, NFS: []mountopts.Option{{Key: "port", Value: "2049", HasValue: true}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mountopts.Parse(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(exported(got), exported(&tc.want)) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.opts, exported(got), exported(&tc.want))
			}
		})
	}
}

// exported drops the unexported presence map for comparison.
func exported(o *mountopts.Options) mountopts.Options {
	c := *o
	c = mountopts.Options{TLS: c.TLS, NoTLS: c.NoTLS, TLSPort: c.TLSPort, Verify: c.Verify, CAFile: c.CAFile,
		OCSP: c.OCSP, NoOCSP: c.NoOCSP, IAM: c.IAM, AWSProfile: c.AWSProfile, AWSCredsURI: c.AWSCredsURI,
		RoleARN: c.RoleARN, JWTPath: c.JWTPath, AccessPoint: c.AccessPoint, MountTargetIP: c.MountTargetIP,
		AZ: c.AZ, Region: c.Region, CrossAccount: c.CrossAccount, NetNS: c.NetNS,
		MountTargetPort: c.MountTargetPort, Fallback: c.Fallback, NFS: c.NFS}
	return c
}

func TestNFSOptions(t *testing.T) {
	const defaults = "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"
	tests := []struct{ name, opts, want string }{
		{"Defaults", "", defaults},
		{"EFSOnlyNeverPassed", "tls,tlsport=20100,iam,region=us-east-1,az=a,mounttargetip=10.0.0.1,mounttargetport=3000,fallback,stunnel,verify=2,cafile=/c,ocsp,crossaccount,accesspoint=fsap-0123456789abcdef0,netns=/var/run/netns/blue", defaults},
		{"UserFirstThenMissingDefaults", "ro,timeo=30", "ro,timeo=30,nfsvers=4.1,rsize=1048576,wsize=1048576,hard,retrans=2,noresvport"},
		{"VersCountsAsSet", "vers=4.0", "vers=4.0,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"},
		{"NFSVersCountsAsSet", "nfsvers=4", "nfsvers=4,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"},
		{"MinorVersionGetsVers4", "minorversion=0", "minorversion=0,nfsvers=4,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"},
		{"SoftCountsAsHard", "soft", "soft,nfsvers=4.1,rsize=1048576,wsize=1048576,timeo=600,retrans=2,noresvport"},
		{"ResvportCountsAsSet", "resvport", "resvport,nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2"},
		{"SizesAndRetrans", "rsize=65536,wsize=65536,retrans=5", "rsize=65536,wsize=65536,retrans=5,nfsvers=4.1,hard,timeo=600,noresvport"},
		{"XOptionsDropped", "x-systemd.automount,_netdev", "_netdev," + defaults},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := mountopts.Parse(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(mountopts.NFSOptions(o), ","); got != tc.want {
				t.Errorf("NFSOptions(%q)\n got %s\nwant %s", tc.opts, got, tc.want)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	def := mountopts.NFSSettings{Version: "4.1", Hard: true, Timeo: 60 * time.Second, Retrans: 2, Rsize: 1 << 20, Wsize: 1 << 20, NConnect: 1,
		AcRegMin: 3 * time.Second, AcRegMax: 60 * time.Second, AcDirMin: 30 * time.Second, AcDirMax: 60 * time.Second}
	tests := []struct {
		name, opts string
		edit       func(*mountopts.NFSSettings)
	}{
		{"Defaults", "", func(*mountopts.NFSSettings) {}},
		{"SoftTimeoRetrans", "soft,timeo=15,retrans=3", func(s *mountopts.NFSSettings) {
			s.Hard, s.Timeo, s.Retrans = false, 1500*time.Millisecond, 3
		}},
		{"LastWins", "ro,soft,rw,hard", func(*mountopts.NFSSettings) {}},
		{"RO", "rw,ro", func(s *mountopts.NFSSettings) { s.ReadOnly = true }},
		{"Sizes", "rsize=4096,wsize=8192", func(s *mountopts.NFSSettings) { s.Rsize, s.Wsize = 4096, 8192 }},
		{"NConnect", "nconnect=4", func(s *mountopts.NFSSettings) { s.NConnect = 4 }},
		{"Actimeo", "actimeo=5,acdirmax=7", func(s *mountopts.NFSSettings) {
			s.AcRegMin, s.AcRegMax, s.AcDirMin, s.AcDirMax = 5*time.Second, 5*time.Second, 5*time.Second, 7*time.Second
		}},
		{"AcIndividual", "acregmin=1,acregmax=2,acdirmin=3,acdirmax=4", func(s *mountopts.NFSSettings) {
			s.AcRegMin, s.AcRegMax, s.AcDirMin, s.AcDirMax = time.Second, 2*time.Second, 3*time.Second, 4*time.Second
		}},
		{"NoAC", "noac,actimeo=9", func(s *mountopts.NFSSettings) {
			s.NoAC, s.AcRegMin, s.AcRegMax, s.AcDirMin, s.AcDirMax = true, 0, 0, 0, 0
		}},
		{"Flags", "nosuid,nodev,noexec,_netdev,noauto,user,users,nofail", func(s *mountopts.NFSSettings) {
			s.NoSUID, s.NoDev, s.NoExec, s.NetDev, s.NoAuto, s.User, s.Users, s.NoFail = true, true, true, true, true, true, true, true
		}},
		{"Fuse3Prepends", "rw,dev,suid,nodev", func(s *mountopts.NFSSettings) { s.NoDev = true }},
		{"Vers4Means41", "vers=4", func(*mountopts.NFSSettings) {}},
		{"Vers40", "nfsvers=4.0", func(s *mountopts.NFSSettings) { s.Version = "4.0" }},
		{"MinorVersion0", "vers=4,minorversion=0", func(s *mountopts.NFSSettings) { s.Version = "4.0" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := mountopts.Parse(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			want := def
			tc.edit(&want)
			if got := o.Settings(); got != want {
				t.Errorf("Settings(%q)\n got %+v\nwant %+v", tc.opts, got, want)
			}
		})
	}
}

func TestUnrecognizedAndAccessors(t *testing.T) {
	o, err := mountopts.ParseSloppy("rw,dev,suid,noatime,x-systemd.requires=a,weird=1,timeo=5,lookupcache=none,frob,timeo=7")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.Unrecognized(), ","); got != "weird=1,frob" {
		t.Errorf("Unrecognized = %s", got)
	}
	if v, ok := o.Get("timeo"); !ok || v != "7" {
		t.Errorf("Get(timeo) = %q, %v; want last value 7", v, ok)
	}
	if !o.Has("noatime") || o.Has("tls") || o.Has("soft") {
		t.Error("Has is wrong")
	}
	if !mountopts.IsEFSOnly("accesspoint") || mountopts.IsEFSOnly("timeo") {
		t.Error("IsEFSOnly is wrong")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "tls", "tls,port=1", "tls,tlsport=x,iam,awsprofile=p", "accesspoint=fsap-",
		"rw,dev,suid,timeo=5,actimeo=-1", "=,==,=a,a=", "mounttargetip=::1,az=a,region=b", "nfsvers=4.1,minorversion=9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := mountopts.Parse(s)
		if err != nil {
			var ue *mountopts.UsageError
			if !errors.As(err, &ue) || ue.Msg == "" {
				t.Fatalf("Parse(%q) returned %T %v, want a *UsageError with a message", s, err, err)
			}
			return
		}
		_ = mountopts.NFSOptions(o)
		_ = o.Settings()
		_ = o.Unrecognized()
		for _, opt := range mountopts.NFSOptions(o) {
			k, _, _ := strings.Cut(opt, "=")
			if mountopts.IsEFSOnly(k) {
				t.Fatalf("EFS-only option %q passed to NFS for %q", opt, s)
			}
		}
	})
}

// TestParseUnknownOption: an option nobody knows fails the mount with its
// name and, when it looks like a typo, the option meant; mount -s keeps it.
func TestParseUnknownOption(t *testing.T) {
	const sloppy = "; mount -s (sloppy) mounts anyway and ignores it"
	tests := []struct{ opts, want string }{
		{"tls,bogusopt=1", `Unknown mount option "bogusopt": it is neither an EFS nor an NFS option` + sloppy},
		{"tsl,mounttargetport=2050", `Unknown mount option "tsl": it is neither an EFS nor an NFS option (did you mean "tls"?)` + sloppy},
		{"tls,acesspoint=fsap-0123456789abcdef0", `Unknown mount option "acesspoint": it is neither an EFS nor an NFS option (did you mean "accesspoint"?)` + sloppy},
		{"tls,nconect=4", `Unknown mount option "nconect": it is neither an EFS nor an NFS option (did you mean "nconnect"?)` + sloppy},
		{"tls,x", `Unknown mount option "x": it is neither an EFS nor an NFS option` + sloppy},
	}
	for _, tc := range tests {
		_, err := mountopts.Parse(tc.opts)
		var ue *mountopts.UsageError
		if !errors.As(err, &ue) || ue.Msg != tc.want {
			t.Errorf("Parse(%q)\n got %v\nwant %s", tc.opts, err, tc.want)
		}
		o, err := mountopts.ParseSloppy(tc.opts)
		if err != nil {
			t.Errorf("ParseSloppy(%q): %v", tc.opts, err)
			continue
		}
		if len(o.Unrecognized()) != 1 {
			t.Errorf("ParseSloppy(%q).Unrecognized() = %v, want the unknown option", tc.opts, o.Unrecognized())
		}
	}
	// What mount(8), mount.fuse3, systemd and nfs(5) pass is known.
	for _, opts := range []string{"rw,nosuid,nodev,relatime,noexec", "_netdev,x-systemd.automount,nofail,noauto",
		"tls,nolock,rdirplus,clientaddr=10.0.0.1,mountport=1", "allow_other,default_permissions,fsname=a,subtype=efs"} {
		if _, err := mountopts.Parse(opts); err != nil {
			t.Errorf("Parse(%q): %v", opts, err)
		}
	}
}

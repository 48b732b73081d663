package localtarget

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestOptionsValidation(t *testing.T) {
	base := Options{ExportDir: "/tmp/x", StateDir: "/tmp/y"}
	with := func(mod func(*Options)) Options { o := base; mod(&o); return o }
	cases := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"Defaults", base, ""},
		{"Localhost", with(func(o *Options) { o.Listen = "localhost:2049" }), ""},
		{"IPv6Loopback", with(func(o *Options) { o.Listen = "[::1]:2049" }), ""},
		{"AllInterfaces", with(func(o *Options) { o.Listen = ":2049" }), "is not a loopback address"},
		{"Wildcard", with(func(o *Options) { o.Listen = "0.0.0.0:2049" }), "is not a loopback address"},
		{"OtherHost", with(func(o *Options) { o.Listen = "10.0.0.1:2049" }), "is not a loopback address"},
		{"NoPort", with(func(o *Options) { o.Listen = "127.0.0.1" }), "listen address"},
		{"NoExport", with(func(o *Options) { o.ExportDir = "" }), "no export directory"},
		{"NoState", with(func(o *Options) { o.StateDir = "" }), "no state directory"},
		{"BadFSID", with(func(o *Options) { o.FSID = "fs-XYZ" }), "malformed"},
		{"BadRegion", with(func(o *Options) { o.Region = "us east" }), "malformed"},
		{"LeaseTooLong", with(func(o *Options) { o.LeaseSeconds = 121 }), "outside ganesha's range"},
		{"LeaseNegative", with(func(o *Options) { o.LeaseSeconds = -1 }), "outside ganesha's range"},
		{"BadGaneshaPort", with(func(o *Options) { o.GaneshaPort = 70000 }), "out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.opts.withDefaults()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.FSID != DefaultFSID || got.Region != DefaultRegion || got.LeaseSeconds != DefaultLeaseSeconds || got.Logger == nil {
					t.Errorf("defaults not applied: %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
	o, _ := base.withDefaults()
	if o.serverName() != "fs-12345678.efs.us-east-1.amazonaws.com" {
		t.Errorf("serverName = %q", o.serverName())
	}
}

func TestStartWithoutGanesha(t *testing.T) {
	old := ganeshaBin
	ganeshaBin = "/nonexistent/ganesha.nfsd"
	defer func() { ganeshaBin = old }()
	_, err := Start(context.Background(), Options{ExportDir: t.TempDir(), StateDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if !errors.Is(err, ErrGaneshaNotInstalled) {
		t.Fatalf("err = %v, want ErrGaneshaNotInstalled", err)
	}
	if !strings.Contains(err.Error(), "apt-get install nfs-ganesha nfs-ganesha-vfs") {
		t.Errorf("message %q lacks the install hint", err)
	}
}

func TestRenderGaneshaConfig(t *testing.T) {
	conf, err := renderGaneshaConfig(ganeshaParams{Port: 12049, ExportDir: "/srv/export", RecoveryRoot: "/st/recovery", LeaseSeconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NFS_Port = 12049;", "Bind_addr = 127.0.0.1;", "Minor_Versions = 0, 1;", "Graceless = true;",
		"Lease_Lifetime = 5;", `RecoveryRoot = "/st/recovery";`, `Path = "/srv/export";`, "Pseudo = /;", "Name = VFS;",
		"Squash = No_Root_Squash;", "Enable_UDP = false;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q", want)
		}
	}
	if _, err := renderGaneshaConfig(ganeshaParams{ExportDir: `/a"b`, RecoveryRoot: "/r"}); err == nil {
		t.Error("a quote in a path was accepted")
	}
}

func TestNullCallEncoding(t *testing.T) {
	b := nullCall(0x01020304)
	if len(b) != 44 {
		t.Fatalf("len = %d, want 4-byte mark + 40-byte call", len(b))
	}
	if b[0] != 0x80 || b[3] != 40 || b[4] != 1 || b[7] != 4 {
		t.Errorf("header % x", b[:8])
	}
}

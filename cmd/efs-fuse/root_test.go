package main

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
)

// TestArgvForms checks how each way of being run is parsed: mount(8)'s
// helper (mount.efs, -f = fake), efs-fuse itself and mount.fuse3's call
// (-f = foreground), options before or after the positionals.
func TestArgvForms(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want mountOptions
	}{
		{"MountEFSFakeFlag", []string{"/sbin/mount.efs", "fs-12345678:/", "/mnt/efs", "-o", "tls", "-f"},
			mountOptions{InvokedAs: "mount.efs", Device: "fs-12345678:/", MountPoint: "/mnt/efs", Options: []string{"tls"}, Fake: true}},
		{"MountEFSAllMountFlags", []string{"mount.efs", "fs-1:/", "/mnt", "-n", "-s", "-v", "-o", "rw", "-o", "tls"},
			mountOptions{InvokedAs: "mount.efs", Device: "fs-1:/", MountPoint: "/mnt", Options: []string{"rw", "tls"},
				NoMtab: true, Sloppy: true, Verbose: true}},
		{"MountEFSLongForeground", []string{"mount.efs", "--foreground", "fs-1", "/mnt"},
			mountOptions{InvokedAs: "mount.efs", Device: "fs-1", MountPoint: "/mnt", Foreground: true}},
		{"EFSFuseForegroundFlag", []string{"efs-fuse", "-f", "fs-1:/", "/mnt"},
			mountOptions{InvokedAs: "efs-fuse", Device: "fs-1:/", MountPoint: "/mnt", Foreground: true}},
		{"EFSFuseLongFake", []string{"/usr/bin/efs-fuse", "--fake", "fs-1:/", "/mnt"},
			mountOptions{InvokedAs: "efs-fuse", Device: "fs-1:/", MountPoint: "/mnt", Fake: true}},
		{"OptionsBeforePositionals", []string{"efs-fuse", "-o", "tls,iam", "fs-1:/", "/mnt"},
			mountOptions{InvokedAs: "efs-fuse", Device: "fs-1:/", MountPoint: "/mnt", Options: []string{"tls,iam"}}},
		{"MountFuse3Style", []string{"efs-fuse", "fs-1:/", "/mnt", "-o", "rw,dev,suid,tls"},
			mountOptions{InvokedAs: "efs-fuse", Device: "fs-1:/", MountPoint: "/mnt", Options: []string{"rw,dev,suid,tls"}}},
		{"MountFuseName", []string{"mount.fuse.efs-fuse", "fs-1:/", "/mnt", "-f", "-o", "tls"},
			mountOptions{InvokedAs: "mount.fuse.efs-fuse", Device: "fs-1:/", MountPoint: "/mnt", Options: []string{"tls"}, Foreground: true}},
		{"ConfigFlag", []string{"efs-fuse", "--config", "/tmp/x.conf", "fs-1:/", "/mnt"},
			mountOptions{InvokedAs: "efs-fuse", Device: "fs-1:/", MountPoint: "/mnt", ConfigPath: "/tmp/x.conf", ConfigExplicit: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got *mountOptions
			h := newHarness(t)
			name := tc.argv[0]
			root := newRootCmd(filepath.Base(name), h.deps, func(_ context.Context, o *mountOptions) error {
				got = o
				return nil
			})
			root.SetArgs(tc.argv[1:])
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("mount not run")
			}
			want := tc.want
			if want.ConfigPath == "" {
				want.ConfigPath = "/etc/amazon/efs/efs-utils.conf"
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("\n got %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestLocalTargetRegistered(t *testing.T) {
	root := newRootCmd("efs-fuse", newHarness(t).deps, nil)
	c, _, err := root.Find([]string{"local-target"})
	if err != nil || c.Name() != "local-target" {
		t.Errorf("local-target not registered: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name   string
		argv   []string
		stderr string
	}{
		{"NoArgs", []string{"efs-fuse"}, "Usage: efs-fuse [-o OPTIONS] [-f] [-n] [-s] [-v] [--config PATH] DEVICE MOUNTPOINT\n"},
		{"OneArg", []string{"mount.efs", "fs-1"}, "Usage: mount.efs [-o OPTIONS] [-f] [-n] [-s] [-v] [--config PATH] DEVICE MOUNTPOINT\n"},
		{"UnknownFlag", []string{"efs-fuse", "--bogus", "fs-1", "/mnt"}, "efs-fuse: unknown flag: --bogus\nRun 'efs-fuse --help' for usage.\n"},
		{"MissingOptionValue", []string{"efs-fuse", "fs-1", "/mnt", "-o"}, "efs-fuse: flag needs an argument: 'o' in -o\nRun 'efs-fuse --help' for usage.\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if code := run(context.Background(), tc.argv, h.deps); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if h.stderr.String() != tc.stderr {
				t.Errorf("stderr %q, want %q", h.stderr.String(), tc.stderr)
			}
		})
	}
}

package main

import (
	"slices"
	"testing"
)

// TestRemountArgsConfig: the watchdog's remount passes --config only when
// the mount was given one. The default file may not exist, and a --config
// that does not exist fails a mount, so passing the default made every
// remount on a host without efs-utils.conf fail.
func TestRemountArgsConfig(t *testing.T) {
	o := &mountOptions{Device: "fs-1:/", MountPoint: "/mnt/efs", Options: []string{"tls"}, ConfigPath: "/etc/amazon/efs/efs-utils.conf"}
	if args := remountArgs(o); slices.Contains(args, "--config") {
		t.Errorf("default config passed on: %q", args)
	}
	o.ConfigExplicit, o.ConfigPath = true, "/srv/efs.conf"
	if args := remountArgs(o); !slices.Contains(args, "/srv/efs.conf") {
		t.Errorf("explicit config lost: %q", args)
	}
}

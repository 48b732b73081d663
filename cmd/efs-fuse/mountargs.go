package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/efs-fuse/efs-fuse/internal/fallback"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

// absolutePaths resolves every path of the command line against the
// caller's working directory: the mount point, --config and the path
// options (cafile=, jwtpath=, netns=). The background process leaves that
// directory, and a tunnel or a watchdog remount never had it.
func absolutePaths(o *mountOptions) error {
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("find the working directory, against which relative paths are read: %w", err)
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(wd, p)
	}
	o.MountPoint, o.ConfigPath = abs(o.MountPoint), abs(o.ConfigPath)
	for i, s := range o.Options {
		o.Options[i] = mountopts.AbsPaths(s, wd)
	}
	return nil
}

// unwrapPath drops the operation and path from an *fs.PathError, whose
// message would repeat what the caller already says.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// userWarnings are the consequences of the options a user may not have
// meant: they go to stderr as well as the log.
func userWarnings(req *mountopts.MountRequest, mode fallback.Mode) []string {
	o := req.Options
	var out []string
	if !o.TLS {
		out = append(out, "mounting without TLS: NFS traffic to the mount target is not encrypted (-o tls encrypts it)")
	}
	if o.TLS && o.Verify != nil && *o.Verify == 0 {
		out = append(out, "TLS certificate verification is disabled (verify=0): the mount target is not authenticated")
	}
	if mode != fallback.ModeFallback {
		if u := o.Unrecognized(); len(u) > 0 {
			out = append(out, fmt.Sprintf("options ignored in FUSE mode: %s", strings.Join(u, ",")))
		}
	}
	return out
}

// remountArgs is the command line (after the program name) that mounts
// this again from anywhere, for the watchdog: absolutePaths has run, so
// every path in it is absolute.
func remountArgs(o *mountOptions) []string {
	args := []string{o.Device, o.MountPoint}
	if len(o.Options) > 0 {
		args = append(args, "-o", strings.Join(o.Options, ","))
	}
	if o.ConfigExplicit {
		// Only a --config the user gave: the default may not exist, and
		// an explicit --config must (the remount would fail).
		args = append(args, "--config", o.ConfigPath)
	}
	if o.Verbose {
		args = append(args, "-v")
	}
	if o.Sloppy {
		args = append(args, "-s")
	}
	return args
}

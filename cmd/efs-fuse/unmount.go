package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/watchdog"
)

// unmountOptions is the parsed command line of `efs-fuse unmount`.
type unmountOptions struct {
	MountPoint string
	Force      bool // lazy unmount: never hangs on a dead server
}

func newUnmountCmd() *cobra.Command {
	o := &unmountOptions{}
	cmd := &cobra.Command{
		Use:   "unmount [--force] MOUNTPOINT",
		Short: "Unmount an efs-fuse mount (dirty data is written, the NFS session closed)",
		Long: `Unmounts MOUNTPOINT. The background process serving the mount then writes and
commits dirty data, closes open files and destroys the NFS session before it
exits. umount(8) and fusermount3 -u have the same effect.

MOUNTPOINT may be reached through a symbolic link. Anything but an efs-fuse
mount (FUSE, or the NFS mount of fallback mode) is refused: use umount(8).

--force detaches the mount at once (umount -l) even when the server is not
answering or files are still open; the background process finishes when the
last user of the mount lets go.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				// The usage says what is missing better than a count.
				return &mountopts.UsageError{Msg: strings.TrimSpace(cmd.UsageString())}
			}
			return nil
		},
		SilenceErrors:         true,
		SilenceUsage:          true,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.MountPoint = args[0]
			return runUnmount(o, os.Geteuid())
		},
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, "lazy unmount (umount -l): do not wait for a dead server or busy files")
	return cmd
}

// runUnmount unmounts an efs-fuse mount with umount2 as root (euid 0),
// through fusermount3 otherwise.
func runUnmount(o *unmountOptions, euid int) error {
	mp, err := resolveMountPoint(o.MountPoint)
	if err != nil {
		return fmt.Errorf("unmount %s: %w", o.MountPoint, err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mount table: %w", err)
	}
	if err := checkEFSMount(string(mi), mp); err != nil {
		return err
	}
	if euid == 0 {
		flags := 0
		if o.Force {
			flags = syscall.MNT_DETACH
		}
		if err := syscall.Unmount(mp, flags); err != nil {
			return fmt.Errorf("unmount %s: %w", mp, unmountHint(err))
		}
		return nil
	}
	return fusermountUnmount(mp, o.Force)
}

// fusermountUnmount unmounts as a user: only fusermount3 (setuid) may
// unmount a user's FUSE mount.
func fusermountUnmount(mp string, force bool) error {
	args := []string{"-u", mp}
	if force {
		args = []string{"-u", "-z", mp}
	}
	out, err := exec.Command("fusermount3", args...).CombinedOutput()
	return fusermountError(mp, out, err)
}

// fusermountError words a failed fusermount3 run by its own message
// ("fusermount3: entry for /x not found in /etc/mtab"), which says more
// than its exit status; the status is shown only when it said nothing.
func fusermountError(mp string, out []byte, err error) error {
	if err == nil {
		return nil
	}
	if msg := strings.Join(strings.Fields(string(out)), " "); msg != "" {
		return fmt.Errorf("unmount %s: %s", mp, msg)
	}
	return fmt.Errorf("unmount %s: fusermount3 failed: %w", mp, err)
}

func unmountHint(err error) error {
	switch {
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("%w (files are still open; close them or use --force)", err)
	case errors.Is(err, syscall.EINVAL):
		return fmt.Errorf("%w (not a mount point)", err)
	}
	return err
}

// checkEFSMount refuses to unmount mp unless the file system on top of it
// is one efs-fuse makes: a FUSE mount of efs-fuse, or an NFS mount (which
// fallback mode and the EFS mount helper make). Anything else (a tmpfs, a
// disk) is not ours to unmount.
func checkEFSMount(mountInfo, mp string) error {
	fstype, source, ok := topMount(mountInfo, mp)
	switch {
	case !ok:
		return fmt.Errorf("unmount %s: not a mount point", mp)
	case strings.HasPrefix(fstype, "fuse") && strings.Contains(fstype, "efs"), strings.HasPrefix(fstype, "nfs"):
		return nil
	}
	return fmt.Errorf("unmount %s: not an efs-fuse mount (it is %s from %s); use umount for other file systems", mp, fstype, source)
}

// topMount is the type and source of the last (topmost) mount at mp in
// /proc/self/mountinfo content.
func topMount(mountInfo, mp string) (fstype, source string, ok bool) {
	for _, line := range strings.Split(mountInfo, "\n") {
		pre, post, found := strings.Cut(line, " - ")
		if !found {
			continue
		}
		f, g := watchdog.MountInfoFields(pre), watchdog.MountInfoFields(post)
		if len(f) < 5 || len(g) < 2 || filepath.Clean(watchdog.UnescapeMountInfo(f[4])) != mp {
			continue
		}
		fstype, source, ok = g[0], watchdog.UnescapeMountInfo(g[1]), true
	}
	return fstype, source, ok
}

package logging

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LogDir is where log files go: the helper's directory as root, else a
// per-user state directory (XDG base directory rules), since unprivileged
// FUSE mounts cannot write /var/log.
func LogDir(euid int, getenv func(string) string) string {
	if euid == 0 {
		return "/var/log/amazon/efs"
	}
	return filepath.Join(userStateHome(getenv), "efs-fuse", "log")
}

// StateDir is where per-mount state files go: the helper's /var/run/efs as
// root, else $XDG_RUNTIME_DIR/efs-fuse, else ~/.local/state/efs-fuse/run.
func StateDir(euid int, getenv func(string) string) string {
	if euid == 0 {
		return "/var/run/efs"
	}
	if d := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		return filepath.Join(d, "efs-fuse")
	}
	return filepath.Join(userStateHome(getenv), "efs-fuse", "run")
}

func userStateHome(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return d
	}
	return filepath.Join(getenv("HOME"), ".local", "state")
}

// EnsureDir creates dir (and parents) and sets its mode exactly: MkdirAll
// alone would apply the umask, and the config's state_file_dir_mode is a
// promise about who may read mount state.
func EnsureDir(dir string, mode os.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("set mode %o on %s: %w", mode, dir, err)
	}
	return nil
}

// NamespaceSubdir is where, under the state directory, the mounts of this
// process's mount namespace keep their state: "" in the initial user
// namespace, else "mntns-<inode>" of its mount namespace. A rootless mount
// (`unshare -Urm`, a container) is visible only in its own mount
// namespace, so only a watchdog living there can supervise it; keyed by
// namespace, that watchdog has a state directory (and a lock) of its own,
// and the user's watchdog outside never takes the mount for unmounted.
func NamespaceSubdir(initialUserNS bool, mntNS string) string {
	// mntNS is readlink /proc/self/ns/mnt: "mnt:[4026531841]".
	inode := strings.TrimSuffix(strings.TrimPrefix(mntNS, "mnt:["), "]")
	if initialUserNS || inode == "" || strings.ContainsAny(inode, "/.") {
		return ""
	}
	return "mntns-" + inode
}

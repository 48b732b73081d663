package mountstate

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
)

// Modes, as the state files' "mode" field spells them.
const (
	// ModeFUSE: efs-fuse serves the mount through FUSE.
	ModeFUSE = "fuse"
	// ModeFallback: fallback mode, the kernel NFS client
	// through a local TLS tunnel process.
	ModeFallback = "fallback"
	// legacyModeTunnel is what fallback state files said before the mode
	// had one name; such files are still read.
	legacyModeTunnel = "tunnel"
)

// TempPrefix marks a fallback state file being set up: it claims its port
// while the mount is in progress and is renamed to the final name once
// mounted.
const TempPrefix = "~"

// fuseSuffix ends FUSE-mode state file names. It is not a number, so port
// selection (which takes a name ending in .<port> for a claim) and the
// fallback reader never take these files for theirs.
const fuseSuffix = ".fuse"

// RestartSessionSignal asks a FUSE mount's serving process to drop its
// connection and reconnect (the NFS session survives it).
const RestartSessionSignal = syscall.SIGUSR1

// FUSEFileName is fs-id.<mount point with / as ., leading dots
// stripped>.fuse, e.g. fs-deadbeef.mnt.efs.fuse for /mnt/efs: the fallback
// name with "fuse" where the port would be.
func FUSEFileName(fsID, mountPoint string) string {
	return fsID + "." + flatten(mountPoint) + fuseSuffix
}

// FallbackFileName is the EFS mount helper's name for a mount's state
// file: fs-id.<mount point with / as ., leading dots stripped>.<port>,
// e.g. fs-deadbeef.mnt.efs.20407 for /mnt/efs.
func FallbackFileName(fsID, mountPoint string, port int) string {
	return fmt.Sprintf("%s.%s.%d", fsID, flatten(mountPoint), port)
}

// CertDir is where a fallback mount's client certificate is written:
// <state dir>/<state file name>+/, a directory that goes with the state
// file.
func CertDir(stateDir, stateFileName string) string {
	return filepath.Join(stateDir, stateFileName+"+")
}

func flatten(mountPoint string) string {
	return strings.TrimLeft(strings.ReplaceAll(filepath.Clean(mountPoint), "/", "."), ".")
}

// IsFUSEFileName reports whether name is a FUSE-mode state file's name.
func IsFUSEFileName(name string) bool {
	return strings.HasPrefix(name, "fs-") && strings.HasSuffix(name, fuseSuffix)
}

// ModeOf says which mode a state directory entry belongs to, and whether
// it is a fallback mount still in progress (TempPrefix); mode "" means it
// is no state file (tunnel logs, the watchdog's lock, temporary files).
func ModeOf(name string) (mode string, temp bool) {
	base := strings.TrimPrefix(name, TempPrefix)
	temp = base != name
	if !strings.HasPrefix(base, "fs-") {
		return "", false
	}
	if IsFUSEFileName(base) && !temp {
		return ModeFUSE, false
	}
	i := strings.LastIndexByte(base, '.')
	if i < 0 || i == len(base)-1 {
		return "", false
	}
	for _, c := range base[i+1:] {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return ModeFallback, temp
}

package main

import (
	"path/filepath"
	"strings"

	"github.com/efs-fuse/efs-fuse/watchdog"
)

// mountEntry is one line of /proc/self/mountinfo, the fields we use.
type mountEntry struct {
	MountPoint, FSType, Source string
}

// parseMountInfo reads /proc/self/mountinfo content (proc(5)); lines it
// cannot read are skipped rather than failing the mount.
func parseMountInfo(data string) []mountEntry {
	var out []mountEntry
	for _, line := range strings.Split(data, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		// Split at spaces only: paths keep any other unescaped byte.
		f, g := watchdog.MountInfoFields(pre), watchdog.MountInfoFields(post)
		if len(f) < 5 || len(g) < 2 {
			continue
		}
		out = append(out, mountEntry{MountPoint: watchdog.UnescapeMountInfo(f[4]), FSType: g[0], Source: watchdog.UnescapeMountInfo(g[1])})
	}
	return out
}

// isEFSMount reports whether mountPoint already carries an NFS or efs-fuse
// mount: the helper only refuses to stack on an NFS mount, so mounting over
// another kind of file system stays possible.
func isEFSMount(entries []mountEntry, mountPoint string) bool {
	mountPoint = filepath.Clean(mountPoint)
	for _, e := range entries {
		if filepath.Clean(e.MountPoint) != mountPoint {
			continue
		}
		if strings.HasPrefix(e.FSType, "nfs") || (strings.HasPrefix(e.FSType, "fuse") && strings.Contains(e.FSType, "efs")) {
			return true
		}
	}
	return false
}

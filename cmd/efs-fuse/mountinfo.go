package main

import (
	"strings"

	"github.com/efs-fuse/efs-fuse/watchdog"
)

// isEFSMount reports whether mountPoint already carries an NFS or efs-fuse
// mount in the mount table (/proc/self/mountinfo content, parsed by the
// watchdog's reader): the helper only refuses to stack on an NFS mount, so
// mounting over another kind of file system stays possible.
func isEFSMount(mountInfo, mountPoint string) bool {
	for _, typ := range watchdog.ParseMountInfo(mountInfo).Types(mountPoint) {
		if strings.HasPrefix(typ, "nfs") || (strings.HasPrefix(typ, "fuse") && strings.Contains(typ, "efs")) {
			return true
		}
	}
	return false
}

package fusefs

import (
	"syscall"

	"go.uber.org/zap"
)

// Locks are cache coherence points, as with the kernel NFS client
// (nfs(5), "Data and metadata coherence"): before an unlock the file's
// writes in flight are drained (setlk), so whoever takes the lock next
// reads them; when a lock is granted, everything cached for the file is
// dropped, since another client may have written under the lock it held
// until now. Without a delegation (EFS grants none) nothing else tells us
// the cache is stale: the change attribute checked at open covers opens,
// not a descriptor kept open across lock and unlock, which is how SQLite
// and most databases work.

// dropCachedData forgets what is cached for n's data: read-ahead chunks
// (made stale by counting a write) and the kernel's pages and attributes
// (FUSE_NOTIFY_INVAL_INODE from offset 0: every page). Call it with no
// lock held: the kernel waits for pages under read, which other requests
// of ours are filling.
func (n *node) dropCachedData() {
	n.writes.Add(1)
	if e := n.NotifyContent(0, 0); e != 0 && e != syscall.ENOENT {
		// ENOENT: the kernel no longer has the inode, nor its pages.
		n.fsys.log.Debug("dropping the kernel's cached pages failed", zap.String("errno", e.Error()))
	}
}

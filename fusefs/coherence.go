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
	n.invalidate(0)
}

// invalidate tells the kernel to drop n's attributes and, from page off
// on, its cached pages (off -1: attributes only). A node not in a mount
// (unit tests drive nodes without one) has nothing cached.
func (n *node) invalidate(off int64) {
	if !n.fsys.mounted {
		return
	}
	if e := n.NotifyContent(off, 0); e != 0 && e != syscall.ENOENT {
		// ENOENT: the kernel no longer has the inode, nor its pages.
		n.fsys.log.Debug("dropping the kernel's cached data failed", zap.String("errno", e.Error()))
	}
}

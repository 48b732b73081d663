package fusefs

import (
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// AttrCache bounds how long the kernel may cache attributes, with the
// meaning of the kernel NFS client's acregmin, acregmax, acdirmin and
// acdirmax (nfs(5)): a file's timeout starts at the minimum, doubles each
// time fresh attributes show no change (same change attribute), up to the
// maximum, and falls back to the minimum when they show one. Names in a
// directory are cached as long as the directory's attributes, so what
// another client does in a directory shows within DirMax.
type AttrCache struct {
	RegMin, RegMax time.Duration // regular files and everything not a directory
	DirMin, DirMax time.Duration // directories
}

// DefaultAttrCacheTime is every bound's default, 1 s: shorter than the kernel
// client's defaults (3-60 s for files, 30-60 s for directories), because
// an open through FUSE trusts a cached name, where the kernel client opens
// by name (see docs/SEMANTICS.md).
const DefaultAttrCacheTime = time.Second

// UniformAttrCache caches everything for d.
func UniformAttrCache(d time.Duration) AttrCache { return AttrCache{d, d, d, d} }

// bounds returns the minimum and maximum for a file of type t, a maximum
// below the minimum counting as the minimum.
func (c AttrCache) bounds(t nfsv4.NfsFtype4) (lo, hi time.Duration) {
	lo, hi = c.RegMin, c.RegMax
	if t == nfsclient.TypeDir {
		lo, hi = c.DirMin, c.DirMax
	}
	return lo, max(lo, hi)
}

// next is the timeout after fresh attributes of type t: lo after a change
// (or the first time, cur 0), else cur doubled up to hi (nfs_update_inode
// does the same with attrtimeo).
func (c AttrCache) next(t nfsv4.NfsFtype4, cur time.Duration, changed bool) time.Duration {
	lo, hi := c.bounds(t)
	if changed || cur < lo || cur == 0 {
		return lo
	}
	return min(2*cur, hi)
}

// sameForKernel reports whether a and b agree on everything the kernel
// caches of a file (what fillAttr gives it but atime, which reads move).
func sameForKernel(a, b nfsclient.Attr) bool {
	return a.Size == b.Size && a.Mtime.Equal(b.Mtime) && a.Ctime.Equal(b.Ctime) && a.Mode == b.Mode &&
		a.UID == b.UID && a.GID == b.GID && a.NumLinks == b.NumLinks
}

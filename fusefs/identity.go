package fusefs

import (
	"hash/fnv"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// stableAttr is the identity go-fuse keeps a node under: the fileid as
// inode number, and a hash of the file handle as generation. go-fuse
// reuses a node only for an identical StableAttr, so a name that now
// leads to another object with the same fileid (a server such as ext4
// reuses inode numbers: one client removes a file and creates another
// under the same name) gets a node of its own, with the new handle,
// instead of the old node whose handle the server calls stale. Hard
// links share a handle, so they still share a node.
func stableAttr(fh nfsclient.FH, a nfsclient.Attr) fs.StableAttr {
	return fs.StableAttr{Mode: typeBits(a), Ino: a.FileID, Gen: fhGen(fh)}
}

// fhGen is the generation number of a file handle (FNV-1a, 64 bits).
func fhGen(fh nfsclient.FH) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(fh)
	return h.Sum64()
}

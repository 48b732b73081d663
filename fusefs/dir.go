package fusefs

import (
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// dirHandle is one opendir(2): a snapshot of the directory read at open
// (and again at rewinddir) with READDIR, attributes included. Serving
// the whole listing from one snapshot keeps telldir/seekdir offsets
// stable, and the attributes (with each entry's file handle) answer the
// kernel's READDIRPLUS lookups without a LOOKUP per entry.
type dirHandle struct {
	n    *node
	cred rpc.Cred

	mu      sync.Mutex // guards entries and pos
	entries []nfsclient.DirEntry
	pos     int // index into the listing with "." and ".." at 0 and 1
	last    int // index of the entry Readdirent returned last
}

var _ = (fs.NodeOpendirHandler)((*node)(nil))

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	ctx = opContext(ctx)
	d := &dirHandle{n: n, cred: n.cred(ctx)}
	if err := d.load(ctx); err != nil {
		return nil, 0, n.errno(ctx, "READDIR", "", err)
	}
	n.openDirs.Add(1) // until Releasedir
	return d, 0, 0
}

// load reads the whole directory. Caller holds d.mu or owns d.
func (d *dirHandle) load(ctx context.Context) error {
	ents, err := d.n.fsys.sess.ReadDirAll(ctx, d.cred, d.n.getFH())
	if err != nil {
		return err
	}
	d.entries, d.pos = ents, 0
	return nil
}

// dots are the two entries READDIR does not return.
const dots = 2

var _ = (fs.FileReaddirenter)((*dirHandle)(nil))

func (d *dirHandle) Readdirent(_ context.Context) (*fuse.DirEntry, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := d.pos
	if i >= dots+len(d.entries) {
		return nil, 0
	}
	d.pos++
	d.last = i
	de := &fuse.DirEntry{Off: uint64(i + 1)}
	switch i {
	case 0:
		de.Name, de.Mode, de.Ino = ".", syscall.S_IFDIR, d.n.StableAttr().Ino
	case 1:
		de.Name, de.Mode = "..", syscall.S_IFDIR
		if _, p := d.n.Parent(); p != nil {
			de.Ino = p.StableAttr().Ino
		}
	default:
		e := d.entries[i-dots]
		de.Name, de.Mode, de.Ino = e.Name, typeBits(e.Attr), e.Attr.FileID
	}
	return de, 0
}

var _ = (fs.FileSeekdirer)((*dirHandle)(nil))

// Seekdir moves to an offset handed out by Readdirent (the index of the
// next entry); offset 0 is rewinddir, which reads the directory again.
func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	ctx = opContext(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	if off == 0 {
		if err := d.load(ctx); err != nil {
			return d.n.errno(ctx, "READDIR", "", err)
		}
		return 0
	}
	d.pos = int(min(off, uint64(dots+len(d.entries))))
	return 0
}

var _ = (fs.FileLookuper)((*dirHandle)(nil))

// Lookup answers READDIRPLUS for the entry Readdirent returned last, from
// its READDIR attributes; without a file handle in them it falls back to
// LOOKUP.
func (d *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ctx = opContext(ctx)
	d.mu.Lock()
	var e *nfsclient.DirEntry
	if i := d.last - dots; i >= 0 && i < len(d.entries) && d.entries[i].Name == name {
		e = &d.entries[i]
	}
	d.mu.Unlock()
	if e == nil || len(e.Attr.FH) == 0 {
		return d.n.Lookup(ctx, name, out)
	}
	return d.n.newChild(ctx, e.Attr.FH, e.Attr, out), 0
}

var _ = (fs.FileReleasedirer)((*dirHandle)(nil))

func (d *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) { d.n.openDirs.Add(-1) }

var _ = (fs.FileFsyncdirer)((*dirHandle)(nil))

// Fsyncdir succeeds at once, as on the kernel NFS client (nfs_fsync_dir):
// an NFS server answers CREATE, REMOVE and RENAME only once they are on
// stable storage, so there is nothing to flush. Without it fsync(2) of a
// directory fails with EOPNOTSUPP, which breaks rename-then-fsync-dir.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno { return 0 }

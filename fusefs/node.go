package fusefs

import (
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// node is one file, directory or other object, known by its NFS file
// handle. Its inode number is the NFS fileid, so hard links share a node.
type node struct {
	fs.Inode
	fsys *filesystem

	// wb holds the file's uncommitted writes (regular files only).
	wb writeback
	// writes counts writes and truncates through this node; read-ahead
	// chunks issued before the latest one are stale.
	writes atomic.Uint64
	// flockReleases counts Releases busy unlocking flock locks here
	// (see Setlk).
	flockReleases atomic.Int32
	// openDirs counts opendir handles: an open directory, like an open
	// file, still answers fstat after it is removed (see Getattr).
	openDirs atomic.Int32
	// removedHere is set when this mount removed the object or renamed
	// another over it (see goneErrno).
	removedHere atomic.Bool

	// mu guards the fields below. Never held across an RPC; take it
	// before any openState.mu.
	mu    sync.Mutex
	fh    nfsclient.FH
	opens map[uint32]*openState // by open-owner uid
	// closing holds, by open-owner uid, a channel closed when the CLOSE
	// of that owner's previous state here has been answered (see
	// holdOpen).
	closing map[uint32]chan struct{}
	// change is the change attribute seen at the last open, for
	// close-to-open consistency; changeKnown is false until then.
	change      uint64
	changeKnown bool
	// attr is the last attributes seen (what the kernel was last told),
	// for fstat of an open file that was removed meanwhile (see Getattr)
	// and to notice at open that another client resized the file.
	attr nfsclient.Attr
}

// knownSize is the file size in the last attributes seen (0 if none).
func (n *node) knownSize() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.attr.Size
}

// grewTo records that our own write reached end, so that knownSize (and
// read-ahead) covers what we wrote.
func (n *node) grewTo(end uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.attr.Size = max(n.attr.Size, end)
}

// noteAttr records a as the last attributes seen and returns the ones it
// replaces.
func (n *node) noteAttr(a nfsclient.Attr) (old nfsclient.Attr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	old, n.attr = n.attr, a
	return old
}

var _ = (fs.InodeEmbedder)((*node)(nil))

func (n *node) getFH() nfsclient.FH {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fh
}

func (n *node) setChange(c uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.change, n.changeKnown = c, true
}

// swapChange records the change attribute seen at an open and reports
// whether it is the one seen at the previous open.
func (n *node) swapChange(c uint64) (same bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	same = n.changeKnown && n.change == c
	n.change, n.changeKnown = c, true
	return same
}

// opContext is the context an NFS request of a FUSE operation runs under.
// go-fuse cancels it when the caller gets any signal (FUSE_INTERRUPT),
// including the SIGURG the Go runtime sends its own threads for
// preemption. nfsclient decides what an interrupt means, as the kernel's
// "hard" mounts do: a request the server is answering runs to completion
// (abandoning a CREATE, RENAME or WRITE that may have run, and reporting
// EINTR for it, is worse than finishing it), while a request waiting for a
// server that stopped answering ends with EINTR.
func opContext(ctx context.Context) context.Context { return ctx }

func (n *node) cred(ctx context.Context) rpc.Cred { return n.fsys.creds.of(ctx) }

func (n *node) errno(ctx context.Context, op, name string, err error) syscall.Errno {
	return n.fsys.toErrno(ctx, op, name, err)
}

// newChild makes the inode for an object found or created in n and fills
// out. go-fuse keeps one inode per inode number, so a name that leads to
// an already known fileid (a hard link) reuses that inode.
func (n *node) newChild(ctx context.Context, fh nfsclient.FH, a nfsclient.Attr, out *fuse.EntryOut) *fs.Inode {
	n.fsys.fillAttr(a, &out.Attr)
	child := &node{fsys: n.fsys, fh: fh, attr: a}
	in := n.NewInode(ctx, child, fs.StableAttr{Mode: typeBits(a), Ino: a.FileID})
	if known, ok := in.Operations().(*node); ok && known != child {
		known.noteAttr(a) // the kernel now has these
	}
	return in
}

var _ = (fs.NodeLookuper)((*node)(nil))

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ctx = opContext(ctx)
	fh, a, err := n.fsys.sess.Lookup(ctx, n.cred(ctx), n.getFH(), name)
	if err != nil {
		return nil, n.errno(ctx, "LOOKUP", name, err)
	}
	return n.newChild(ctx, fh, a, out), 0
}

var _ = (fs.NodeGetattrer)((*node)(nil))

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	ctx = opContext(ctx)
	// Our own WRITEs in flight change size and mtime: wait for them, or
	// the kernel would be told an older size than it just wrote.
	if err := n.wb.drain(ctx); err != nil {
		return n.errno(ctx, "GETATTR", "", err)
	}
	a, err := n.fsys.sess.Getattr(ctx, n.cred(ctx), n.getFH())
	if err != nil {
		e := n.errno(ctx, "GETATTR", "", err)
		if e == syscall.ESTALE {
			// The file was removed while we hold it open (the server
			// may drop the handle of a removed file even so): answer
			// as a local filesystem does for an open, unlinked file,
			// with its last attributes and no links.
			n.mu.Lock()
			a, open := n.attr, len(n.opens) > 0 || n.openDirs.Load() > 0
			n.mu.Unlock()
			if open {
				a.NumLinks = 0
				n.fsys.fillAttr(a, &out.Attr)
				return 0
			}
		}
		return e
	}
	n.noteAttr(a)
	n.fsys.fillAttr(a, &out.Attr)
	return 0
}

var _ = (fs.NodeSetattrer)((*node)(nil))

// Setattr changes mode, owner, size or times. A size change goes with the
// stateid of the handle it came through (ftruncate, or open with
// O_TRUNC), else of any open we hold, else the anonymous stateid (RFC
// 8881 section 18.30). Uncommitted writes are committed first, so a
// resend after a server restart cannot grow the file back.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	ctx = opContext(ctx)
	s := setAttrOf(in)
	if !n.fsys.serverOwner(&s) {
		return syscall.EINVAL
	}
	cred := n.cred(ctx)
	if s == (nfsclient.SetAttr{}) {
		return n.Getattr(ctx, f, out)
	}
	// A WRITE landing after the SETATTR would undo it (mtime, size).
	if err := n.wb.drain(ctx); err != nil {
		return n.errno(ctx, "SETATTR", "", err)
	}
	stateid := nfsclient.AnonymousStateid
	if s.Size != nil {
		n.writes.Add(1)
		if err := n.wb.commit(ctx, cred, n); err != nil {
			return n.errno(ctx, "COMMIT", "", err)
		}
		if h, ok := f.(*fileHandle); ok {
			stateid = h.ioStateid()
		} else if st := n.pinAnyOpen(); st != nil {
			// Pinned: the kernel sends RELEASE asynchronously after
			// close(2), so without a reference the CLOSE could overtake
			// this SETATTR and the server would answer BAD_STATEID.
			defer n.unpinOpen(ctx, st)
			stateid = st.ioStateid()
		}
	}
	a, err := n.fsys.sess.Setattr(ctx, cred, n.getFH(), stateid, s)
	if err != nil {
		return n.errno(ctx, "SETATTR", "", err)
	}
	n.noteAttr(a)
	n.fsys.fillAttr(a, &out.Attr)
	return 0
}

// pinAnyOpen returns some open state of n with one more reference, or
// nil when there is none. Give it back with unpinOpen.
func (n *node) pinAnyOpen() *openState {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, st := range n.opens {
		if st.other.Load() != nil {
			st.refs++
			return st
		}
	}
	return nil
}

// unpinOpen drops a pinAnyOpen reference, CLOSEing the state if every
// handle went away meanwhile.
func (n *node) unpinOpen(ctx context.Context, st *openState) {
	if err := n.releaseOpen(ctx, st); err != nil {
		n.fsys.log.Debug("close failed", zap.Error(err))
	}
}

var _ = (fs.NodeAccesser)((*node)(nil))

// Access answers access(2) and the kernel's chdir check with NFS ACCESS,
// so the server decides, as for every other operation (no
// default_permissions). F_OK needs no RPC: the kernel already found the
// node.
func (n *node) Access(ctx context.Context, mask uint32) syscall.Errno {
	ctx = opContext(ctx)
	isDir := n.StableAttr().Mode&syscall.S_IFMT == syscall.S_IFDIR
	var want uint32
	if mask&4 != 0 { // R_OK
		want |= nfsclient.AccessRead
	}
	if mask&2 != 0 { // W_OK
		want |= nfsclient.AccessModify | nfsclient.AccessExtend
		if isDir {
			want |= nfsclient.AccessDelete
		}
	}
	if mask&1 != 0 { // X_OK
		if isDir {
			want |= nfsclient.AccessLookup
		} else {
			want |= nfsclient.AccessExecute
		}
	}
	if want == 0 {
		return 0
	}
	got, err := n.fsys.sess.Access(ctx, n.cred(ctx), n.getFH(), want)
	if err != nil {
		return n.errno(ctx, "ACCESS", "", err)
	}
	if got&want != want {
		return syscall.EACCES
	}
	return 0
}

// statfsBlock is the unit of the block counts. 4 KiB keeps them exact
// enough for df while fitting any EFS size in 64 bits.
const statfsBlock = 4096

// syntheticFiles stands in for files_total/files_free, which EFS does not
// report (it has no inode limit): tools that refuse to write to a
// filesystem with no free inodes must see plenty.
const syntheticFiles = 1 << 40

var _ = (fs.NodeStatfser)((*node)(nil))

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	ctx = opContext(ctx)
	a, err := n.fsys.sess.FSAttr(ctx, n.cred(ctx), n.getFH())
	if err != nil {
		return n.errno(ctx, "GETATTR(fs)", "", err)
	}
	out.Bsize, out.Frsize = statfsBlock, statfsBlock
	out.Blocks = a.SpaceTotal / statfsBlock
	out.Bfree = a.SpaceFree / statfsBlock
	out.Bavail = a.SpaceAvail / statfsBlock
	out.Files, out.Ffree = a.FilesTotal, a.FilesFree
	if out.Files == 0 {
		out.Files, out.Ffree = syntheticFiles, syntheticFiles
	}
	out.NameLen = a.MaxName
	if out.NameLen == 0 {
		out.NameLen = 255
	}
	return 0
}

// shareAccess maps open(2) flags to OPEN share access.
func shareAccess(flags uint32) uint32 {
	switch flags & syscall.O_ACCMODE {
	case syscall.O_WRONLY:
		return nfsclient.ShareWrite
	case syscall.O_RDWR:
		return nfsclient.ShareBoth
	default:
		return nfsclient.ShareRead
	}
}

// openFlags are the FOPEN_* flags of an open: O_DIRECT bypasses the page
// cache; otherwise the kernel keeps its cached pages only when the file
// has not changed since the last open (close-to-open consistency).
func openFlags(flags uint32, unchanged bool) uint32 {
	if flags&syscall.O_DIRECT != 0 {
		return fuse.FOPEN_DIRECT_IO
	}
	if unchanged {
		return fuse.FOPEN_KEEP_CACHE
	}
	return 0
}

var _ = (fs.NodeOpener)((*node)(nil))

// Open joins (or makes, or upgrades) the caller's NFS OPEN of the file and
// returns a handle on it. The change attribute is compared with the one
// seen at the previous open: if another client (or we) changed the file,
// the kernel drops its cached pages.
//
// An OPEN of a handle the server no longer has is answered by goneErrno.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	ctx = opContext(ctx)
	cred := n.cred(ctx)
	st, a, err := n.acquireOpen(ctx, cred, shareAccess(flags))
	if err != nil {
		return nil, 0, n.goneErrno(n.errno(ctx, "OPEN", "", err))
	}
	if a.Mask == (nfsclient.AttrMask{}) { // shared an existing OPEN: no fresh attributes
		if a, err = n.fsys.sess.Getattr(ctx, cred, n.getFH()); err != nil {
			_ = n.releaseOpen(ctx, st)
			return nil, 0, n.goneErrno(n.errno(ctx, "GETATTR", "", err))
		}
	}
	resized := n.noteAttr(a).Size != a.Size
	h := newFileHandle(n, st, cred)
	unchanged := n.swapChange(a.Change)
	if !unchanged && resized {
		// Another client resized the file. Dropping the kernel's
		// pages (no FOPEN_KEEP_CACHE) is not enough: it would still
		// read up to the size it cached, and OPEN carries no
		// attributes to correct it. Invalidate its attributes, so
		// the next read or stat fetches the size.
		_ = n.NotifyContent(-1, 0)
	}
	return h, openFlags(flags, unchanged), 0
}

// goneErrno answers an operation that reached a file through a name the
// kernel resolved earlier and found its handle stale (open, readlink).
// Another client removed or replaced the file meanwhile: ESTALE makes the
// kernel walk the path again with the name revalidated (LOOKUP_REVAL), and
// open the file that has the name now, or report ENOENT; answering ENOENT
// at once would hide a replaced file. If this mount removed it (the call
// raced our own unlink or rename), the name is gone and we know it: ENOENT,
// as a local filesystem gives a moment later. A second ESTALE after the
// kernel's one retry would reach the caller.
func (n *node) goneErrno(e syscall.Errno) syscall.Errno {
	if e == syscall.ESTALE && n.removedHere.Load() {
		return syscall.ENOENT
	}
	return e
}

// markRemoved records that this mount removes (or renames another over)
// the child name of dir, for goneErrno.
func markRemoved(dir *fs.Inode, name string, except *fs.Inode) {
	if c := dir.GetChild(name); c != nil && c != except {
		if cn, ok := c.Operations().(*node); ok {
			cn.removedHere.Store(true)
		}
	}
}

// modeAttrBit is FATTR4_MODE (33) in word 1 of an attribute bitmap.
const modeAttrBit = 1 << (33 - 32)

var _ = (fs.NodeCreater)((*node)(nil))

// Create makes and opens a regular file with one OPEN. O_EXCL uses
// EXCLUSIVE4_1 (RFC 8881 section 18.16.3), which a retry after a lost
// reply cannot turn into a false EEXIST; anything else is UNCHECKED4, with
// size 0 for O_TRUNC.
func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	ctx = opContext(ctx)
	cred := n.cred(ctx)
	m := mode & 0o7777
	args := nfsclient.OpenArgs{
		Dir: n.getFH(), Name: name, Access: shareAccess(flags),
		Create: nfsclient.Unchecked, Attrs: nfsclient.SetAttr{Mode: &m},
	}
	if flags&syscall.O_EXCL != 0 {
		args.Create = nfsclient.Exclusive
		_, _ = rand.Read(args.Verifier[:])
	} else if flags&syscall.O_TRUNC != 0 {
		zero := uint64(0)
		args.Attrs.Size = &zero
	}
	res, err := n.fsys.sess.Open(ctx, cred, args)
	if err != nil {
		return nil, nil, 0, n.errno(ctx, "OPEN(create)", name, err)
	}
	child := n.newChild(ctx, res.FH, res.Attr, out)
	cn := child.Operations().(*node)
	st := cn.adoptOpen(cred, res.Stateid, args.Access)
	cn.setChange(res.Attr.Change)
	h := newFileHandle(cn, st, cred)
	if args.Create == nfsclient.Exclusive && (len(res.AttrSet) < 2 || res.AttrSet[1]&modeAttrBit == 0) {
		// The server kept the verifier where the mode would go; set
		// the mode now, as section 18.16.3 asks.
		if a, err := n.fsys.sess.Setattr(ctx, cred, res.FH, h.ioStateid(), nfsclient.SetAttr{Mode: &m}); err == nil {
			n.fsys.fillAttr(a, &out.Attr)
		}
	}
	return child, h, openFlags(flags, true), 0
}

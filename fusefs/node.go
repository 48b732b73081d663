package fusefs

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
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
	// access caches ACCESS answers where the kernel checks no
	// permission (accesscheck.go).
	access accessCache
	// lockOwners are the POSIX and OFD lock owners that locked the file
	// while it was open (flushowner.go).
	lockOwners lockOwnerSet
	// known is a directory's names when this mount knows all of them
	// (knownnames.go).
	known knownNames

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
	// acTimeo is how long the kernel may cache attr (AttrCache.next).
	acTimeo time.Duration
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
	n.acTimeo = n.fsys.timeout.attr.next(a.Type, n.acTimeo, old.Change != a.Change)
	return old
}

// attrTimeout is how long the kernel may cache the attributes noted last.
func (n *node) attrTimeout() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.acTimeo
}

// entryTimeout is how long the kernel may cache a name in directory n:
// as long as n's attributes (the kernel client revalidates a name when
// its directory's attributes expire), unless the mount sets it.
func (n *node) entryTimeout() time.Duration {
	if e := n.fsys.timeout.entry; e != nil {
		return *e
	}
	if t := n.attrTimeout(); t > 0 {
		return t
	}
	return n.fsys.timeout.attr.DirMin
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
// out. go-fuse keeps one inode per identity (stableAttr: fileid and file
// handle), so a name that leads to an already known object (a hard link)
// reuses that inode.
func (n *node) newChild(ctx context.Context, fh nfsclient.FH, a nfsclient.Attr, out *fuse.EntryOut) *fs.Inode {
	fillAttr(a, &out.Attr, n.fsys.ids)
	child := &node{fsys: n.fsys, fh: fh}
	child.noteAttr(a)
	out.SetAttrTimeout(child.attrTimeout())
	out.SetEntryTimeout(n.entryTimeout())
	// NewInode always returns child's inode: go-fuse picks an existing
	// node of the same identity (a hard link) later, when it registers
	// the reply.
	return n.NewInode(ctx, child, stableAttr(fh, a))
}

var _ = (fs.NodeLookuper)((*node)(nil))

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ctx = opContext(ctx)
	if n.known.absent(name, time.Now(), n.entryTimeout()) {
		return nil, syscall.ENOENT // a create's LOOKUP, mostly
	}
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
				fillAttr(a, &out.Attr, n.fsys.ids)
				return 0
			}
		}
		return e
	}
	n.noteAttr(a)
	fillAttr(a, &out.Attr, n.fsys.ids)
	out.SetTimeout(n.attrTimeout())
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
	s, e := setAttrOf(in, n.fsys.ids)
	if e != 0 {
		return e
	}
	cred := n.cred(ctx)
	n.mu.Lock()
	cur := n.attr // fresh: the kernel fetched it for the request
	n.mu.Unlock()
	killPriv := isKillPriv(s, cur, cred, n.fsys.kernelPermissions)
	if killPriv && n.fsys.kernelPermissions {
		s.Mode = nil
	}
	if s == (nfsclient.SetAttr{}) {
		return n.Getattr(ctx, f, out)
	}
	// A WRITE landing after the SETATTR would undo it (mtime, size).
	if err := n.wb.drain(ctx); err != nil {
		return n.errno(ctx, "SETATTR", "", err)
	}
	stateid := nfsclient.AnonymousStateid
	if s.Size != nil {
		if e := n.serverChecks(ctx, cred, nfsclient.AccessModify); e != 0 {
			return e
		}
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
	if openModeRefused(err) && stateid != nfsclient.AnonymousStateid {
		// The open borrowed is read-only: truncate(2) while another
		// descriptor has the file open for reading, or open(O_RDONLY|
		// O_TRUNC). The kernel client sends the anonymous stateid
		// then, and the server checks the caller's write permission.
		a, err = n.fsys.sess.Setattr(ctx, cred, n.getFH(), nfsclient.AnonymousStateid, s)
	}
	if killPriv && s.Mode != nil && nfsclient.ErrnoOf(err) == syscall.EPERM {
		// The server refused to clear the setuid bits for the
		// identity it maps the caller to: do the rest without.
		s.Mode = nil
		if s == (nfsclient.SetAttr{}) {
			return n.Getattr(ctx, f, out)
		}
		a, err = n.fsys.sess.Setattr(ctx, cred, n.getFH(), stateid, s)
	}
	if err != nil {
		return n.errno(ctx, "SETATTR", "", err)
	}
	n.noteAttr(a)
	fillAttr(a, &out.Attr, n.fsys.ids)
	out.SetTimeout(n.attrTimeout())
	return 0
}

// openModeRefused reports whether err is NFS4ERR_OPENMODE: the stateid's
// open does not allow the operation (a size change through a read-only
// open).
func openModeRefused(err error) bool {
	var nerr *nfsclient.Error
	return errors.As(err, &nerr) && nerr.Status == nfsv4.NFS4ERR_OPENMODE
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

// maxNameLen is the longest name statfs reports: EFS's limit and the
// kernel NFS client's NFS4_MAXNAMLEN.
const maxNameLen = 255

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
	// EFS takes names of at most 255 bytes; a server that claims more
	// (ganesha says 1024) is clamped, as the kernel client does
	// (NFS4_MAXNAMLEN), or tools would make names the export refuses.
	out.NameLen = maxNameLen
	if a.MaxName != 0 {
		out.NameLen = min(a.MaxName, maxNameLen)
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
	if e := n.serverChecks(ctx, cred, openAccess(flags)); e != 0 {
		return nil, 0, n.goneErrno(e)
	}
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
	told := n.noteAttr(a)
	h := newFileHandle(n, st, cred)
	unchanged := n.swapChange(a.Change)
	if !unchanged && !sameForKernel(told, a) {
		// The file changed since the last open, and the kernel was last
		// told other attributes. Dropping its pages (no
		// FOPEN_KEEP_CACHE) is not enough: it would still read up to
		// the size it cached and answer stat with old attributes, and
		// OPEN carries none to correct them. Invalidate them, so the
		// next read or stat fetches them (close-to-open consistency).
		n.invalidate(-1)
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
		n.known.forget() // it may have changed the directory all the same
		return nil, nil, 0, n.errno(ctx, "OPEN(create)", name, err)
	}
	n.known.created(name, res.DirChange, time.Now())
	child := n.newChild(ctx, res.FH, res.Attr, out)
	cn := child.Operations().(*node)
	st := cn.adoptOpen(cred, res.Stateid, args.Access)
	cn.setChange(res.Attr.Change)
	h := newFileHandle(cn, st, cred)
	if args.Create == nfsclient.Exclusive {
		// The server keeps the verifier in attributes of the new file
		// (ganesha: atime and mtime, which then read 1991 or 2070),
		// maybe where the mode would go: set the mode if it was not
		// set, and the times to the server's clock, as section
		// 18.16.3 asks and the kernel client does.
		now := &nfsclient.SetTime{Now: true}
		fix := nfsclient.SetAttr{Atime: now, Mtime: now}
		if len(res.AttrSet) < 2 || res.AttrSet[1]&modeAttrBit == 0 {
			fix.Mode = &m
		}
		if a, err := n.fsys.sess.Setattr(ctx, cred, res.FH, h.ioStateid(), fix); err == nil {
			cn.noteAttr(a)
			cn.setChange(a.Change)
			fillAttr(a, &out.Attr, n.fsys.ids)
		} else {
			n.fsys.log.Debug("setting mode and times after an exclusive create failed", zap.Error(err))
		}
	}
	return child, h, openFlags(flags, true), 0
}

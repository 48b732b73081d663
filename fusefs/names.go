package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// Operations that change names in a directory. go-fuse updates its own
// tree (and so the kernel's view through the replies) when these succeed.

var _ = (fs.NodeMkdirer)((*node)(nil))

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ctx = opContext(ctx)
	m := mode & 0o7777
	fh, a, err := n.fsys.sess.Create(ctx, n.cred(ctx), n.getFH(), name, nfsclient.CreateDir, "", nfsclient.SetAttr{Mode: &m})
	if err != nil {
		return nil, n.errno(ctx, "CREATE(dir)", name, err)
	}
	return n.newChild(ctx, fh, a, out), 0
}

var _ = (fs.NodeSymlinker)((*node)(nil))

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ctx = opContext(ctx)
	fh, a, err := n.fsys.sess.Create(ctx, n.cred(ctx), n.getFH(), name, nfsclient.CreateSymlink, target, nfsclient.SetAttr{})
	if err != nil {
		return nil, n.errno(ctx, "CREATE(symlink)", name, err)
	}
	return n.newChild(ctx, fh, a, out), 0
}

var _ = (fs.NodeReadlinker)((*node)(nil))

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	ctx = opContext(ctx)
	target, err := n.fsys.sess.Readlink(ctx, n.cred(ctx), n.getFH())
	if err != nil {
		return nil, n.goneErrno(n.errno(ctx, "READLINK", "", err))
	}
	return []byte(target), 0
}

var _ = (fs.NodeMknoder)((*node)(nil))

// Mknod makes FIFOs, sockets and (mknod(2) with S_IFREG) empty regular
// files. Block and character devices get EPERM: EFS has none (EFS-FACTS
// section 5), and EPERM is what mknod(2) reports when "the file system
// does not support the type of node requested".
func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ctx = opContext(ctx)
	m := mode & 0o7777
	cred := n.cred(ctx)
	var kind nfsclient.CreateKind
	switch mode & syscall.S_IFMT {
	case syscall.S_IFIFO:
		kind = nfsclient.CreateFIFO
	case syscall.S_IFSOCK:
		kind = nfsclient.CreateSocket
	case syscall.S_IFREG, 0:
		res, err := n.fsys.sess.Open(ctx, cred, nfsclient.OpenArgs{
			Dir: n.getFH(), Name: name, Access: nfsclient.ShareRead,
			Create: nfsclient.Guarded, Attrs: nfsclient.SetAttr{Mode: &m},
		})
		if err != nil {
			return nil, n.errno(ctx, "OPEN(mknod)", name, err)
		}
		_ = n.fsys.sess.CloseState(ctx, cred, res.FH, res.Stateid)
		return n.newChild(ctx, res.FH, res.Attr, out), 0
	default:
		return nil, syscall.EPERM
	}
	fh, a, err := n.fsys.sess.Create(ctx, cred, n.getFH(), name, kind, "", nfsclient.SetAttr{Mode: &m})
	if err != nil {
		return nil, n.errno(ctx, "CREATE(special)", name, err)
	}
	return n.newChild(ctx, fh, a, out), 0
}

var _ = (fs.NodeLinker)((*node)(nil))

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ctx = opContext(ctx)
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	a, err := n.fsys.sess.Link(ctx, n.cred(ctx), t.getFH(), n.getFH(), name)
	if err != nil {
		return nil, n.errno(ctx, "LINK", name, err)
	}
	n.fsys.fillAttr(a, &out.Attr)
	return t.EmbeddedInode(), 0
}

var _ = (fs.NodeUnlinker)((*node)(nil))

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	ctx = opContext(ctx)
	markRemoved(n.EmbeddedInode(), name, nil) // before: an open may race the REMOVE
	return n.errno(ctx, "REMOVE", name, n.fsys.sess.Remove(ctx, n.cred(ctx), n.getFH(), name))
}

var _ = (fs.NodeRmdirer)((*node)(nil))

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	ctx = opContext(ctx)
	markRemoved(n.EmbeddedInode(), name, nil)
	return n.errno(ctx, "REMOVE(dir)", name, n.fsys.sess.Remove(ctx, n.cred(ctx), n.getFH(), name))
}

// renameat2 flags.
const (
	renameNoReplace = 1 << 0
	renameExchange  = 1 << 1
	renameWhiteout  = 1 << 2
)

var _ = (fs.NodeRenamer)((*node)(nil))

// Rename is NFS RENAME, which replaces a compatible target. NFSv4.1 has no
// exchange or no-replace rename: RENAME_EXCHANGE and RENAME_WHITEOUT get
// EINVAL ("not supported by the filesystem", rename(2)); RENAME_NOREPLACE
// is emulated with a LOOKUP of the target first, which is not atomic:
// another client can create the target between the two RPCs.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	ctx = opContext(ctx)
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	if flags&(renameExchange|renameWhiteout) != 0 {
		return syscall.EINVAL
	}
	cred := n.cred(ctx)
	if flags&renameNoReplace != 0 {
		_, _, err := n.fsys.sess.Lookup(ctx, cred, np.getFH(), newName)
		if err == nil {
			return syscall.EEXIST
		}
		if e := n.errno(ctx, "LOOKUP", newName, err); e != syscall.ENOENT {
			return e
		}
	}
	// The target a rename replaces, marked before the RENAME is sent:
	// an open racing it may see the old file's handle go stale before
	// this returns. (Marked in vain if the RENAME fails: goneErrno then
	// says ENOENT where ESTALE would have been better, nothing worse.)
	markRemoved(np.EmbeddedInode(), newName, n.GetChild(name))
	err := n.fsys.sess.Rename(ctx, cred, n.getFH(), name, np.getFH(), newName)
	return n.errno(ctx, "RENAME", name, err)
}

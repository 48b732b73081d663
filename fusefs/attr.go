package fusefs

import (
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/efs-fuse/efs-fuse/internal/idmap"
	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// blksize is st_blksize, the I/O size tools like cp and dd's default use
// for their buffers: EFS's 1 MiB READ/WRITE size, so each system call maps
// to one RPC.
const blksize = 1 << 20

// typeBits maps an NFS file type to the S_IFMT bits.
func typeBits(t nfsclient.Attr) uint32 {
	switch t.Type {
	case nfsclient.TypeDir:
		return syscall.S_IFDIR
	case nfsclient.TypeSymlink:
		return syscall.S_IFLNK
	case nfsclient.TypeFIFO:
		return syscall.S_IFIFO
	case nfsclient.TypeSocket:
		return syscall.S_IFSOCK
	case nfsclient.TypeBlk:
		return syscall.S_IFBLK
	case nfsclient.TypeChr:
		return syscall.S_IFCHR
	default:
		return syscall.S_IFREG
	}
}

// fillAttr converts NFS attributes to the kernel's. Owners go through the
// mount's user namespace maps (nil: none): the server's ids are the
// host's, and a rootless mount shows them as the namespace knows them
// (its user's own files as owned by namespace root), an id the namespace
// has none for as idmap.Unmapped, which the kernel shows as the overflow
// id and never lets anyone write back.
func fillAttr(a nfsclient.Attr, out *fuse.Attr, ids *idmap.Map) {
	out.Ino = a.FileID
	out.Size = a.Size
	out.Blocks = (a.SpaceUsed + 511) / 512
	out.Blksize = blksize
	out.Mode = typeBits(a) | a.Mode&0o7777
	out.Nlink = a.NumLinks
	out.Uid, out.Gid = ids.UIDFromHost(a.UID), ids.GIDFromHost(a.GID)
	out.Rdev = uint32(unixMkdev(a.RawDev.Major, a.RawDev.Minor))
	setTime(a.Atime, &out.Atime, &out.Atimensec)
	setTime(a.Mtime, &out.Mtime, &out.Mtimensec)
	setTime(a.Ctime, &out.Ctime, &out.Ctimensec)
}

func setTime(t time.Time, sec *uint64, nsec *uint32) {
	if t.IsZero() {
		*sec, *nsec = 0, 0
		return
	}
	*sec, *nsec = uint64(t.Unix()), uint32(t.Nanosecond())
}

// unixMkdev encodes a device number the way the kernel's new_encode_dev
// does for the 32-bit FUSE rdev field.
func unixMkdev(major, minor uint32) uint64 {
	return uint64(minor&0xff) | uint64(major&0xfff)<<8 | uint64(minor&^0xff)<<12
}

// setAttrOf converts a FUSE SETATTR into NFS attributes. UTIME_NOW (the
// *_NOW flags) becomes the server's clock, as the kernel NFS client sends
// it: the server's time is what other clients compare against. A new
// owner is the namespace's id, sent as the host's (see fillAttr); one with
// no host id is EINVAL, as chown(2) answers for an unmapped id.
func setAttrOf(in *fuse.SetAttrIn, ids *idmap.Map) (nfsclient.SetAttr, syscall.Errno) {
	var s nfsclient.SetAttr
	if m, ok := in.GetMode(); ok {
		m &= 0o7777
		s.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		host, mapped := ids.UIDToHost(u)
		if !mapped {
			return s, syscall.EINVAL
		}
		s.UID = &host
	}
	if g, ok := in.GetGID(); ok {
		host, mapped := ids.GIDToHost(g)
		if !mapped {
			return s, syscall.EINVAL
		}
		s.GID = &host
	}
	if sz, ok := in.GetSize(); ok {
		s.Size = &sz
	}
	if in.Valid&fuse.FATTR_ATIME != 0 {
		if in.Valid&fuse.FATTR_ATIME_NOW != 0 {
			s.Atime = &nfsclient.SetTime{Now: true}
		} else {
			s.Atime = &nfsclient.SetTime{Time: time.Unix(int64(in.Atime), int64(in.Atimensec))}
		}
	}
	if in.Valid&fuse.FATTR_MTIME != 0 {
		if in.Valid&fuse.FATTR_MTIME_NOW != 0 {
			s.Mtime = &nfsclient.SetTime{Now: true}
		} else {
			s.Mtime = &nfsclient.SetTime{Time: time.Unix(int64(in.Mtime), int64(in.Mtimensec))}
		}
	}
	return s, 0
}

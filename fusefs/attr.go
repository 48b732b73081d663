package fusefs

import (
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

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

// fillAttr converts NFS attributes to the kernel's.
func fillAttr(a nfsclient.Attr, out *fuse.Attr) {
	out.Ino = a.FileID
	out.Size = a.Size
	out.Blocks = (a.SpaceUsed + 511) / 512
	out.Blksize = blksize
	out.Mode = typeBits(a) | a.Mode&0o7777
	out.Nlink = a.NumLinks
	out.Uid, out.Gid = a.UID, a.GID
	out.Rdev = uint32(unixMkdev(a.RawDev.Major, a.RawDev.Minor))
	setTime(a.Atime, &out.Atime, &out.Atimensec)
	setTime(a.Mtime, &out.Mtime, &out.Mtimensec)
	setTime(a.Ctime, &out.Ctime, &out.Ctimensec)
}

// fillAttr is the package function with the owner translated into the
// mount's user namespace (IDMap).
func (f *filesystem) fillAttr(a nfsclient.Attr, out *fuse.Attr) {
	fillAttr(a, out)
	out.Uid, out.Gid = toKernel(a.UID, f.ids.UID), toKernel(a.GID, f.ids.GID)
}

// serverOwner translates a SETATTR's owner and group from the mount's
// user namespace to the server's ids; an id with no mapping there (the
// overflow id) is never written back: EINVAL, as chown(2) to an id that
// cannot be represented.
func (f *filesystem) serverOwner(s *nfsclient.SetAttr) bool {
	if s.UID != nil {
		u, ok := toServer(*s.UID, f.ids.UID)
		if !ok {
			return false
		}
		s.UID = &u
	}
	if s.GID != nil {
		g, ok := toServer(*s.GID, f.ids.GID)
		if !ok {
			return false
		}
		s.GID = &g
	}
	return true
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
// it: the server's time is what other clients compare against.
func setAttrOf(in *fuse.SetAttrIn) nfsclient.SetAttr {
	var s nfsclient.SetAttr
	if m, ok := in.GetMode(); ok {
		m &= 0o7777
		s.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		s.UID = &u
	}
	if g, ok := in.GetGID(); ok {
		s.GID = &g
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
	return s
}

package nfsclient

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
)

// Error is an NFS operation that failed with a status from the server.
type Error struct {
	Op     string // operation name, e.g. "LOOKUP"
	Status nfsv4.Nfsstat4
}

// Error returns e.g. "nfs LOOKUP: NFS4ERR_NOENT".
func (e *Error) Error() string {
	return "nfs " + e.Op + ": " + StatusName(e.Status)
}

// Is makes errors.Is(err, syscall.ENOENT) and errors.Is(err,
// fs.ErrNotExist) work on an *Error, through its Errno.
func (e *Error) Is(target error) bool {
	errno := e.Errno()
	return errno == target || errno.Is(target)
}

// Status codes of RFC 8276 (extended attributes) that the Linux client
// maps; nfsv4.x predates them.
const (
	nfs4errNoXattr   nfsv4.Nfsstat4 = 10095
	nfs4errXattr2Big nfsv4.Nfsstat4 = 10096
)

// StatusName is the RFC 8881 name of s, e.g. "NFS4ERR_NOENT"; an unknown
// code reads "nfsstat4(N)". The generated nfsv4.Nfsstat4_name covers every
// status in nfsv4.x.
func StatusName(s nfsv4.Nfsstat4) string {
	if n, ok := nfsv4.Nfsstat4_name[s]; ok {
		return n
	}
	switch s {
	case nfs4errNoXattr:
		return "NFS4ERR_NOXATTR"
	case nfs4errXattr2Big:
		return "NFS4ERR_XATTR2BIG"
	}
	return fmt.Sprintf("nfsstat4(%d)", int32(s))
}

// Errno is the errno a system call sees for e. This is the only mapping
// from NFS status to errno in efs-fuse. It follows what the Linux NFSv4
// client returns (nfs4_stat_to_errno in fs/nfs/nfs4xdr.c, then
// nfs4_map_errors in fs/nfs/nfs4proc.c), with these decisions where the
// kernel has none that userspace can see:
//
//   - The kernel's internal errnos (>= 512, absent from syscall) are
//     replaced: BADHANDLE and FHEXPIRED become ESTALE (the handle is
//     unusable; ESTALE makes the VFS and FUSE look the name up again),
//     NOTSUPP and ATTRNOTSUPP EOPNOTSUPP, TOOSMALL EINVAL (getdents(2)
//     "result buffer is too small"), BADTYPE EPERM (mknod(2) "file system
//     does not support the type of node"), BAD_COOKIE and NOT_SAME EIO.
//   - DELAY and GRACE are retried below this layer (RFC 8881 sections
//     15.1.1.3, 8.4.2); one that escapes means the retries ran out, which
//     a soft mount reports as EIO. EAGAIN would tell a blocking read or
//     write "would block" and make callers spin.
//   - LOCK_RANGE, LOCK_NOTSUPP and BAD_RANGE, which the kernel leaks raw,
//     become ENOLCK, fcntl(2)'s "remote locking protocol failed".
//   - WRONG_TYPE (RFC 8881 section 15.1.2.9) becomes EINVAL, as for
//     readlink(2) on a non-symlink; OPENMODE EBADF as nfs4_do_setattr
//     does; MOVED EREMOTE (the filesystem lives elsewhere, section 11).
//   - Everything else, notably the lost-state and session statuses that
//     recovery handles, is EIO; a status nfsv4.x does not define is
//     EREMOTEIO, the kernel's "server is looney tunes".
func (e *Error) Errno() syscall.Errno {
	switch e.Status {
	// Statuses numbered like their errno (RFC 8881 section 15.1).
	case nfsv4.NFS4ERR_PERM:
		return syscall.EPERM
	case nfsv4.NFS4ERR_NOENT:
		return syscall.ENOENT
	case nfsv4.NFS4ERR_IO:
		return syscall.EIO
	case nfsv4.NFS4ERR_NXIO:
		return syscall.ENXIO
	case nfsv4.NFS4ERR_ACCESS:
		return syscall.EACCES
	case nfsv4.NFS4ERR_EXIST:
		return syscall.EEXIST
	case nfsv4.NFS4ERR_XDEV:
		return syscall.EXDEV
	case nfsv4.NFS4ERR_NOTDIR:
		return syscall.ENOTDIR
	case nfsv4.NFS4ERR_ISDIR:
		return syscall.EISDIR
	case nfsv4.NFS4ERR_INVAL:
		return syscall.EINVAL
	case nfsv4.NFS4ERR_FBIG:
		return syscall.EFBIG
	case nfsv4.NFS4ERR_NOSPC:
		return syscall.ENOSPC
	case nfsv4.NFS4ERR_ROFS:
		return syscall.EROFS
	case nfsv4.NFS4ERR_MLINK:
		return syscall.EMLINK
	case nfsv4.NFS4ERR_NAMETOOLONG:
		return syscall.ENAMETOOLONG
	case nfsv4.NFS4ERR_NOTEMPTY:
		return syscall.ENOTEMPTY
	case nfsv4.NFS4ERR_DQUOT:
		return syscall.EDQUOT
	case nfsv4.NFS4ERR_STALE, nfsv4.NFS4ERR_BADHANDLE, nfsv4.NFS4ERR_FHEXPIRED:
		return syscall.ESTALE

	// nfs4_stat_to_errno's table.
	case nfsv4.NFS4ERR_NOTSUPP, nfsv4.NFS4ERR_ATTRNOTSUPP, nfsv4.NFS4ERR_OP_ILLEGAL:
		return syscall.EOPNOTSUPP
	case nfsv4.NFS4ERR_TOOSMALL:
		return syscall.EINVAL
	case nfsv4.NFS4ERR_SERVERFAULT:
		return syscall.EREMOTEIO
	case nfsv4.NFS4ERR_BADTYPE:
		return syscall.EPERM
	case nfsv4.NFS4ERR_LOCKED, nfsv4.NFS4ERR_DENIED:
		// DENIED is a conflicting lock: F_SETLK's EAGAIN (nfs4_proc_setlk).
		return syscall.EAGAIN
	case nfsv4.NFS4ERR_SYMLINK:
		return syscall.ELOOP
	case nfsv4.NFS4ERR_DEADLOCK:
		return syscall.EDEADLK
	case nfs4errNoXattr:
		return syscall.ENODATA
	case nfs4errXattr2Big:
		return syscall.E2BIG

	// nfs4_map_errors.
	case nfsv4.NFS4ERR_RESOURCE, nfsv4.NFS4ERR_LAYOUTTRYLATER,
		nfsv4.NFS4ERR_RECALLCONFLICT, nfsv4.NFS4ERR_RETURNCONFLICT:
		return syscall.EREMOTEIO
	case nfsv4.NFS4ERR_WRONGSEC, nfsv4.NFS4ERR_WRONG_CRED:
		return syscall.EPERM
	case nfsv4.NFS4ERR_BADOWNER, nfsv4.NFS4ERR_BADNAME, nfsv4.NFS4ERR_BADCHAR:
		return syscall.EINVAL
	case nfsv4.NFS4ERR_SHARE_DENIED:
		return syscall.EACCES
	case nfsv4.NFS4ERR_MINOR_VERS_MISMATCH:
		return syscall.EPROTONOSUPPORT
	case nfsv4.NFS4ERR_FILE_OPEN:
		return syscall.EBUSY

	// Our decisions (see above).
	case nfsv4.NFS4ERR_LOCK_RANGE, nfsv4.NFS4ERR_LOCK_NOTSUPP, nfsv4.NFS4ERR_BAD_RANGE:
		return syscall.ENOLCK
	case nfsv4.NFS4ERR_WRONG_TYPE:
		return syscall.EINVAL
	case nfsv4.NFS4ERR_OPENMODE:
		return syscall.EBADF
	case nfsv4.NFS4ERR_MOVED:
		return syscall.EREMOTE
	}
	if _, ok := nfsv4.Nfsstat4_name[e.Status]; !ok {
		return syscall.EREMOTEIO
	}
	// Includes NFS4_OK: an *Error must never read as success.
	return syscall.EIO
}

// ErrnoOf maps any error from this package to the errno a system call
// should return:
//
//   - an *Error anywhere in the chain: its Errno;
//   - context.Canceled: EINTR (the caller was interrupted, as with the
//     "intr" behaviour of a signal during a kernel NFS call);
//   - context.DeadlineExceeded: EIO, what a soft mount returns when its
//     retries time out (ETIMEDOUT only with the "softerr" mount option,
//     which few programs expect from read or write);
//   - a non-zero syscall.Errno: itself;
//   - anything else, transport failures included: EIO.
//
// ErrnoOf(nil) is 0.
func ErrnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var nfsErr *Error
	if errors.As(err, &nfsErr) {
		return nfsErr.Errno()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, context.DeadlineExceeded):
		return syscall.EIO
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		return errno
	}
	return syscall.EIO
}

// Revoked reports whether err says the stateid it was sent with has been
// revoked by the server (ADMIN_REVOKED, DELEG_REVOKED, or EXPIRED: the
// lease ran out and the server took this state away while keeping our
// client ID). The server keeps a revoked stateid, and keeps setting the
// *_STATE_REVOKED flags in SEQUENCE, until the client frees it with
// FREE_STATEID (RFC 8881 section 8.2.4).
func Revoked(err error) bool {
	var nfsErr *Error
	if !errors.As(err, &nfsErr) {
		return false
	}
	switch nfsErr.Status {
	case nfsv4.NFS4ERR_ADMIN_REVOKED, nfsv4.NFS4ERR_DELEG_REVOKED, nfsv4.NFS4ERR_EXPIRED:
		return true
	}
	return false
}

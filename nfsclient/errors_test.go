package nfsclient

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
)

func TestErrno(t *testing.T) {
	for _, tc := range []struct {
		status nfsv4.Nfsstat4
		want   syscall.Errno
	}{
		{nfsv4.NFS4ERR_PERM, syscall.EPERM},
		{nfsv4.NFS4ERR_NOENT, syscall.ENOENT},
		{nfsv4.NFS4ERR_IO, syscall.EIO},
		{nfsv4.NFS4ERR_NXIO, syscall.ENXIO},
		{nfsv4.NFS4ERR_ACCESS, syscall.EACCES},
		{nfsv4.NFS4ERR_EXIST, syscall.EEXIST},
		{nfsv4.NFS4ERR_XDEV, syscall.EXDEV},
		{nfsv4.NFS4ERR_NOTDIR, syscall.ENOTDIR},
		{nfsv4.NFS4ERR_ISDIR, syscall.EISDIR},
		{nfsv4.NFS4ERR_INVAL, syscall.EINVAL},
		{nfsv4.NFS4ERR_FBIG, syscall.EFBIG},
		{nfsv4.NFS4ERR_NOSPC, syscall.ENOSPC},
		{nfsv4.NFS4ERR_ROFS, syscall.EROFS},
		{nfsv4.NFS4ERR_MLINK, syscall.EMLINK},
		{nfsv4.NFS4ERR_NAMETOOLONG, syscall.ENAMETOOLONG},
		{nfsv4.NFS4ERR_NOTEMPTY, syscall.ENOTEMPTY},
		{nfsv4.NFS4ERR_DQUOT, syscall.EDQUOT},
		{nfsv4.NFS4ERR_STALE, syscall.ESTALE},
		{nfsv4.NFS4ERR_BADHANDLE, syscall.ESTALE},
		{nfsv4.NFS4ERR_FHEXPIRED, syscall.ESTALE},
		{nfsv4.NFS4ERR_BAD_COOKIE, syscall.EIO},
		{nfsv4.NFS4ERR_NOTSUPP, syscall.EOPNOTSUPP},
		{nfsv4.NFS4ERR_ATTRNOTSUPP, syscall.EOPNOTSUPP},
		{nfsv4.NFS4ERR_OP_ILLEGAL, syscall.EOPNOTSUPP},
		{nfsv4.NFS4ERR_TOOSMALL, syscall.EINVAL},
		{nfsv4.NFS4ERR_SERVERFAULT, syscall.EREMOTEIO},
		{nfsv4.NFS4ERR_BADTYPE, syscall.EPERM},
		{nfsv4.NFS4ERR_DELAY, syscall.EIO},
		{nfsv4.NFS4ERR_GRACE, syscall.EIO},
		{nfsv4.NFS4ERR_LOCKED, syscall.EAGAIN},
		{nfsv4.NFS4ERR_DENIED, syscall.EAGAIN},
		{nfsv4.NFS4ERR_DEADLOCK, syscall.EDEADLK},
		{nfsv4.NFS4ERR_SYMLINK, syscall.ELOOP},
		{nfs4errNoXattr, syscall.ENODATA},
		{nfs4errXattr2Big, syscall.E2BIG},
		{nfsv4.NFS4ERR_RESOURCE, syscall.EREMOTEIO},
		{nfsv4.NFS4ERR_LAYOUTTRYLATER, syscall.EREMOTEIO},
		{nfsv4.NFS4ERR_RECALLCONFLICT, syscall.EREMOTEIO},
		{nfsv4.NFS4ERR_RETURNCONFLICT, syscall.EREMOTEIO},
		{nfsv4.NFS4ERR_WRONGSEC, syscall.EPERM},
		{nfsv4.NFS4ERR_WRONG_CRED, syscall.EPERM},
		{nfsv4.NFS4ERR_BADOWNER, syscall.EINVAL},
		{nfsv4.NFS4ERR_BADNAME, syscall.EINVAL},
		{nfsv4.NFS4ERR_BADCHAR, syscall.EINVAL},
		{nfsv4.NFS4ERR_SHARE_DENIED, syscall.EACCES},
		{nfsv4.NFS4ERR_MINOR_VERS_MISMATCH, syscall.EPROTONOSUPPORT},
		{nfsv4.NFS4ERR_FILE_OPEN, syscall.EBUSY},
		{nfsv4.NFS4ERR_NOT_SAME, syscall.EIO},
		{nfsv4.NFS4ERR_LOCK_RANGE, syscall.ENOLCK},
		{nfsv4.NFS4ERR_LOCK_NOTSUPP, syscall.ENOLCK},
		{nfsv4.NFS4ERR_BAD_RANGE, syscall.ENOLCK},
		{nfsv4.NFS4ERR_WRONG_TYPE, syscall.EINVAL},
		{nfsv4.NFS4ERR_OPENMODE, syscall.EBADF},
		{nfsv4.NFS4ERR_MOVED, syscall.EREMOTE},
		{nfsv4.NFS4ERR_EXPIRED, syscall.EIO},
		{nfsv4.NFS4ERR_ADMIN_REVOKED, syscall.EIO},
		{nfsv4.NFS4ERR_BAD_STATEID, syscall.EIO},
		{nfsv4.NFS4ERR_BADSESSION, syscall.EIO},
		{nfsv4.NFS4ERR_BADXDR, syscall.EIO},
		{nfsv4.NFS4_OK, syscall.EIO},
		{3, syscall.EREMOTEIO},
		{10073, syscall.EREMOTEIO},
		{-1, syscall.EREMOTEIO},
	} {
		e := &Error{Op: "X", Status: tc.status}
		if got := e.Errno(); got != tc.want {
			t.Errorf("%s: Errno = %d (%v), want %d (%v)", StatusName(tc.status), got, got, tc.want, tc.want)
		}
	}
}

// TestErrnoAllStatuses checks that every status in nfsv4.x has its name and
// a deliberate errno: never 0, and EREMOTEIO only where the kernel says so
// (EREMOTEIO is otherwise reserved for statuses nfsv4.x does not define).
func TestErrnoAllStatuses(t *testing.T) {
	if n := len(nfsv4.Nfsstat4_name); n != 111 {
		t.Errorf("nfsv4.x defines 111 statuses, name table has %d", n)
	}
	remoteIO := map[nfsv4.Nfsstat4]bool{
		nfsv4.NFS4ERR_SERVERFAULT: true, nfsv4.NFS4ERR_RESOURCE: true,
		nfsv4.NFS4ERR_LAYOUTTRYLATER: true, nfsv4.NFS4ERR_RECALLCONFLICT: true,
		nfsv4.NFS4ERR_RETURNCONFLICT: true,
	}
	for s, name := range nfsv4.Nfsstat4_name {
		if got := StatusName(s); got != name {
			t.Errorf("StatusName(%d) = %q, want %q", s, got, name)
		}
		errno := (&Error{Status: s}).Errno()
		if errno == 0 || (errno == syscall.EREMOTEIO) != remoteIO[s] {
			t.Errorf("%s: Errno = %v", name, errno)
		}
	}
}

func TestErrorString(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "LOOKUP", Status: nfsv4.NFS4ERR_NOENT}, "nfs LOOKUP: NFS4ERR_NOENT"},
		{&Error{Op: "OPEN", Status: nfsv4.NFS4ERR_MINOR_VERS_MISMATCH}, "nfs OPEN: NFS4ERR_MINOR_VERS_MISMATCH"},
		{&Error{Op: "GETXATTR", Status: nfs4errNoXattr}, "nfs GETXATTR: NFS4ERR_NOXATTR"},
		{&Error{Op: "READ", Status: 4242}, "nfs READ: nfsstat4(4242)"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestErrorIs(t *testing.T) {
	err := fmt.Errorf("stat: %w", &Error{Op: "LOOKUP", Status: nfsv4.NFS4ERR_NOENT})
	if !errors.Is(err, syscall.ENOENT) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v is not ENOENT / fs.ErrNotExist", err)
	}
	if errors.Is(err, syscall.EIO) || errors.Is(err, fs.ErrExist) {
		t.Errorf("%v matches EIO or fs.ErrExist", err)
	}
}

func TestErrnoOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"nil", nil, 0},
		{"Error", &Error{Op: "REMOVE", Status: nfsv4.NFS4ERR_NOTEMPTY}, syscall.ENOTEMPTY},
		{"wrapped Error", fmt.Errorf("a: %w", fmt.Errorf("b: %w", &Error{Status: nfsv4.NFS4ERR_ACCESS})), syscall.EACCES},
		{"canceled", context.Canceled, syscall.EINTR},
		{"wrapped canceled", fmt.Errorf("call: %w", context.Canceled), syscall.EINTR},
		{"deadline", context.DeadlineExceeded, syscall.EIO},
		{"errno", syscall.ENOENT, syscall.ENOENT},
		{"wrapped errno", fmt.Errorf("x: %w", syscall.EXDEV), syscall.EXDEV},
		{"errno 0", syscall.Errno(0), syscall.EIO},
		{"other", errors.New("connection closed"), syscall.EIO},
		{"bad attrs", fmt.Errorf("%w: attribute 3", ErrBadAttrs), syscall.EIO},
		{"Error wins over errno", errors.Join(syscall.ENOENT, &Error{Status: nfsv4.NFS4ERR_ROFS}), syscall.EROFS},
	} {
		if got := ErrnoOf(tc.err); got != tc.want {
			t.Errorf("%s: ErrnoOf(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestRevoked(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&Error{Op: "CLOSE", Status: nfsv4.NFS4ERR_ADMIN_REVOKED}, true},
		{fmt.Errorf("CLOSE: %w", &Error{Op: "CLOSE", Status: nfsv4.NFS4ERR_EXPIRED}), true},
		{&Error{Op: "LOCKU", Status: nfsv4.NFS4ERR_DELEG_REVOKED}, true},
		{&Error{Op: "CLOSE", Status: nfsv4.NFS4ERR_BAD_STATEID}, false},
		{&Error{Op: "CLOSE", Status: nfsv4.NFS4ERR_OLD_STATEID}, false},
		{errors.New("connection reset"), false},
		{nil, false},
	} {
		if got := Revoked(tc.err); got != tc.want {
			t.Errorf("Revoked(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

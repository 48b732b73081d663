package fusefs

import (
	"context"
	"errors"
	"syscall"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// expected are errnos that ordinary use produces all the time (a missing
// name, a denied permission, a held lock): not worth a log line.
var expected = map[syscall.Errno]bool{
	syscall.ENOENT: true, syscall.EEXIST: true, syscall.EACCES: true, syscall.EPERM: true,
	syscall.ENOTEMPTY: true, syscall.EAGAIN: true, syscall.EINTR: true, syscall.ENOTDIR: true,
	syscall.EISDIR: true, syscall.EINVAL: true, syscall.EXDEV: true, syscall.ENAMETOOLONG: true,
}

// errnoer is implemented by errors that know their errno (nfsclient's
// *Error and *LockDeniedError).
type errnoer interface{ Errno() syscall.Errno }

// toErrno is the one place where an error from the session becomes the
// errno the kernel sees. The NFS status mapping itself is
// nfsclient.ErrnoOf (interrupted requests become EINTR there, as the
// go-fuse package doc asks); typed errors outside *nfsclient.Error that
// carry their own errno are honoured first. Errors that are not part of
// normal operation are logged at debug level with the op and name.
func (fs *filesystem) toErrno(ctx context.Context, op, name string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	var en errnoer
	if errors.As(err, &en) {
		e = en.Errno()
	} else {
		e = nfsclient.ErrnoOf(err)
	}
	if e == 0 {
		e = syscall.EIO
	}
	if !expected[e] && ctx.Err() == nil {
		fs.log.Debug("operation failed", zap.String("op", op), zap.String("name", name),
			zap.String("errno", e.Error()), zap.Error(err))
	}
	return e
}

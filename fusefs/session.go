package fusefs

import (
	"context"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// Session is the part of *nfsclient.Client the filesystem uses. It is
// declared here, by its consumer, so that tests and decorators (metrics,
// fault injection, debug logging) can stand in for the real client.
//
// Every method runs as the given credentials; the server makes every
// permission decision from them (AUTH_SYS), as it does for the kernel
// NFS client.
type Session interface {
	Lookup(ctx context.Context, cred rpc.Cred, dir nfsclient.FH, name string) (nfsclient.FH, nfsclient.Attr, error)
	Getattr(ctx context.Context, cred rpc.Cred, fh nfsclient.FH) (nfsclient.Attr, error)
	Setattr(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, stateid nfsclient.Stateid, s nfsclient.SetAttr) (nfsclient.Attr, error)
	Access(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, mask uint32) (uint32, error)
	ReadDirAll(ctx context.Context, cred rpc.Cred, dir nfsclient.FH) ([]nfsclient.DirEntry, error)

	Open(ctx context.Context, cred rpc.Cred, a nfsclient.OpenArgs) (nfsclient.OpenResult, error)
	CloseState(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, stateid nfsclient.Stateid) error

	Read(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, stateid nfsclient.Stateid, off uint64, buf []byte) (int, bool, error)
	ReadData(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, stateid nfsclient.Stateid, off uint64, count int) (data []byte, eof bool, release func(), err error)
	Write(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, stateid nfsclient.Stateid, off uint64, data []byte, stable nfsclient.Stability) (nfsclient.WriteResult, error)
	Commit(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, off uint64, count uint32) ([8]byte, error)

	Create(ctx context.Context, cred rpc.Cred, dir nfsclient.FH, name string, kind nfsclient.CreateKind, target string, attrs nfsclient.SetAttr) (nfsclient.FH, nfsclient.Attr, error)
	Remove(ctx context.Context, cred rpc.Cred, dir nfsclient.FH, name string) error
	Rename(ctx context.Context, cred rpc.Cred, srcDir nfsclient.FH, srcName string, dstDir nfsclient.FH, dstName string) error
	Link(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, dir nfsclient.FH, name string) (nfsclient.Attr, error)
	Readlink(ctx context.Context, cred rpc.Cred, fh nfsclient.FH) (string, error)

	Lock(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, a nfsclient.LockArgs) (nfsclient.Stateid, error)
	Unlock(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, lockStateid nfsclient.Stateid, typ nfsclient.LockType, off, length uint64) (nfsclient.Stateid, error)
	TestLock(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, typ nfsclient.LockType, off, length uint64, owner []byte) (*nfsclient.LockConflict, error)
	FreeStateid(ctx context.Context, cred rpc.Cred, stateid nfsclient.Stateid) error
	TestStateids(ctx context.Context, cred rpc.Cred, ids []nfsclient.Stateid) ([]error, error)

	FSAttr(ctx context.Context, cred rpc.Cred, fh nfsclient.FH) (nfsclient.FSAttr, error)
	MaxRead() uint32
	MaxWrite() uint32
}

var _ Session = (*nfsclient.Client)(nil)

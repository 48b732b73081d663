package fusefs

import (
	"context"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// fileHandle is one FUSE open of a regular file: a reference on the
// owner's shared NFS OPEN. Its I/O goes as the credentials of the process
// that opened it, as with the kernel client: writeback and release come
// from the kernel with no useful caller.
type fileHandle struct {
	n    *node
	st   *openState
	cred rpc.Cred

	ra readahead // sequential prefetch of this handle's reads

	mu     sync.Mutex            // guards flocks
	flocks map[uint64]*lockState // flock lock states by FUSE owner; see flockFor
}

func newFileHandle(n *node, st *openState, cred rpc.Cred) *fileHandle {
	return &fileHandle{n: n, st: st, cred: cred}
}

// ioStateid is the stateid for this handle's I/O, read at each call: state
// recovery after a server restart replaces it.
func (h *fileHandle) ioStateid() nfsclient.Stateid { return h.st.ioStateid() }

// lostErrno is EIO when the handle's open state could not be recovered
// after a server restart: that handle fails, every other one carries on.
func (h *fileHandle) lostErrno() syscall.Errno {
	if h.st.lost.Load() {
		return syscall.EIO
	}
	return 0
}

// releaseTimeout bounds the COMMIT and CLOSE of a release: the kernel does
// not wait for the reply.
const releaseTimeout = time.Minute

var _ = (fs.FileReader)((*fileHandle)(nil))

// Read fills dest from off through the handle's read-ahead (readahead.go),
// with as many READs as it takes (a server may return short reads before
// EOF).
func (h *fileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.n.fsys.trim.noteIO()
	if e := h.lostErrno(); e != 0 {
		return nil, e
	}
	ctx = opContext(ctx)
	if err := h.n.wb.drain(ctx); err != nil { // read our own writes
		return nil, h.n.errno(ctx, "READ", "", err)
	}
	reply, err := h.ra.read(ctx, h, dest, uint64(off))
	if err != nil && reply.Size() == 0 {
		reply.Done()
		return nil, h.n.errno(ctx, "READ", "", err)
	}
	return reply, 0
}

var _ = (fs.FileWriter)((*fileHandle)(nil))

func (h *fileHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.n.fsys.trim.noteIO()
	if e := h.lostErrno(); e != 0 {
		return 0, e
	}
	ctx = opContext(ctx)
	n, err := h.n.wb.write(ctx, h.cred, h.n, h.ioStateid(), data, uint64(off))
	if err != nil && n == 0 {
		return 0, h.n.errno(ctx, "WRITE", "", err)
	}
	h.n.grewTo(uint64(off) + uint64(n))
	return uint32(n), 0
}

var _ = (fs.FileFlusher)((*fileHandle)(nil))

// Flush runs at every close(2): COMMIT, so that close reports a lost
// write, as close-to-open consistency and NFS practice expect; then the
// closing process's POSIX locks on the file go (flushowner.go).
func (h *fileHandle) Flush(ctx context.Context) syscall.Errno {
	if owner, ok := h.n.fsys.flushes.of(ctx); ok {
		defer h.n.unlockOwner(ctx, owner)
	}
	if e := h.lostErrno(); e != 0 {
		return e
	}
	ctx = opContext(ctx)
	if err := h.n.wb.commit(ctx, h.cred, h.n); err != nil {
		return h.n.errno(ctx, "COMMIT", "", err)
	}
	return 0
}

var _ = (fs.FileFsyncer)((*fileHandle)(nil))

// Fsync succeeds only once COMMIT returned the verifier of every kept
// write, or the writes it lost were sent again with FILE_SYNC.
func (h *fileHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if e := h.lostErrno(); e != 0 {
		return e
	}
	ctx = opContext(ctx)
	if err := h.n.wb.commit(ctx, h.cred, h.n); err != nil {
		return h.n.errno(ctx, "COMMIT", "", err)
	}
	return 0
}

var _ = (fs.FileReleaser)((*fileHandle)(nil))

// Release drops the handle's reference on the NFS OPEN, after a last
// COMMIT; the OPEN is CLOSEd when no handle is left. Its own context,
// since the kernel neither waits nor keeps the request alive.
//
// Its NFS work ends early only if go-fuse cancels the request, which it
// does when the kernel drops the connection (a forced unmount): with a dead
// server, a RELEASE waiting out releaseTimeout would keep the serving
// process alive that long. What it leaves undone, Server.Close does.
func (h *fileHandle) Release(reqCtx context.Context) syscall.Errno {
	unlocked := h.startRelease()
	ctx, cancel := context.WithTimeout(reqCtx, releaseTimeout)
	defer cancel()
	h.ra.close(ctx, h.n.fsys)
	h.unlockFlocks(ctx)
	unlocked()
	if err := h.n.wb.commit(ctx, h.cred, h.n); err != nil {
		h.n.fsys.log.Warn("commit at release failed; data may be lost", zap.Error(err))
	}
	if err := h.n.releaseOpen(ctx, h.st); err != nil {
		h.n.fsys.log.Debug("close failed", zap.Error(err))
	}
	h.n.forgetLockOwnersIfClosed()
	return 0
}

var _ = (fs.FileGetattrer)((*fileHandle)(nil))

func (h *fileHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	ctx = opContext(ctx)
	return h.n.Getattr(ctx, h, out)
}

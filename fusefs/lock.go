package fusefs

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// Byte-range locks (fcntl F_SETLK/F_SETLKW/F_GETLK, and flock, which the
// kernel sends as a whole-file lock with its own owner) map to NFS LOCK,
// LOCKU and LOCKT. The FUSE lock owner (a process's files table for POSIX
// locks, the open file for flock and OFD locks) becomes the NFS
// lock-owner, under the open-owner of the handle (RFC 8881 section 9.4).
//
// flock locks are the exception: their state belongs to the handle (the
// open file description), not to the owner value. The kernel lets a flock
// go with the RELEASE of its file, sent asynchronously after the last
// close, and may meanwhile hand the freed file's address (the owner
// value) to a new open of the same file by the same user. Keyed by owner,
// both would share one NFS lock-owner, and the late RELEASE would unlock
// the new holder's lock. So each handle's flock state gets an NFS
// lock-owner of its own (flockFor), freed with FREE_STATEID when the
// handle is released.

// lockState is one lock-owner's locks on one NFS OPEN. Lock order:
// openState.mu before fileHandle.mu before lockState.mu.
type lockState struct {
	owner []byte

	// mu serializes this owner's LOCK/LOCKU (they advance its seqid)
	// and guards stateid; held across those RPCs.
	mu      sync.Mutex
	stateid *nfsclient.Stateid // nil until the first granted LOCK
	held    heldRanges         // what this owner holds, to re-take after a server restart
	// holds says whether held is non-empty, for recovery to read without
	// mu while a request of this owner is in flight (reclaim.go).
	holds atomic.Bool
}

// flockSeq numbers flock lock states, so that no two handles ever share
// an NFS lock-owner, however the kernel reuses owner values.
var flockSeq atomic.Uint64

// lockFor returns the lock state of POSIX (or OFD) lock owner on st.
func (st *openState) lockFor(owner uint64) *lockState {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.locks == nil {
		st.locks = map[uint64]*lockState{}
	}
	ls := st.locks[owner]
	if ls == nil {
		ls = &lockState{owner: fmt.Appendf(nil, "lock-%d-%x", st.cred.UID, owner)}
		st.locks[owner] = ls
	}
	if st.n != nil { // nil in unit tests of lock states alone
		st.n.lockOwners.add(owner) // see unlockOwner
	}
	return ls
}

// flockFor returns the state of the flock locks that FUSE owner takes
// through h, with an NFS lock-owner no other handle has. st.flocks holds
// it too, for the unlock before CLOSE and for reclaim.
func (h *fileHandle) flockFor(owner uint64) *lockState {
	st := h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if ls := h.flocks[owner]; ls != nil {
		return ls
	}
	ls := &lockState{owner: fmt.Appendf(nil, "flock-%d-%x-%d", st.cred.UID, owner, flockSeq.Add(1))}
	if st.flocks == nil {
		st.flocks = map[*lockState]struct{}{}
	}
	st.flocks[ls] = struct{}{}
	if h.flocks == nil {
		h.flocks = map[uint64]*lockState{}
	}
	h.flocks[owner] = ls
	return ls
}

// lockStateFor is the lock state a Setlk or Setlkw with flags works on.
func (h *fileHandle) lockStateFor(owner uint64, flags uint32) *lockState {
	if flags&fuse.FUSE_LK_FLOCK != 0 {
		return h.flockFor(owner)
	}
	return h.st.lockFor(owner)
}

// dropFlock forgets flock state ls once its server state is gone (see
// unlockFlocks).
func (st *openState) dropFlock(ls *lockState) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.flocks, ls)
}

// allLocks yields every lock state on st, POSIX and flock. Caller holds
// st.mu.
func (st *openState) allLocks() iter.Seq[*lockState] {
	return func(yield func(*lockState) bool) {
		for _, ls := range st.locks {
			if !yield(ls) {
				return
			}
		}
		for ls := range st.flocks {
			if !yield(ls) {
				return
			}
		}
	}
}

// lockRange converts a kernel lock range (inclusive end, OFFSET_MAX for
// "to EOF") to an NFS offset and length.
func lockRange(lk *fuse.FileLock) (off, length uint64) {
	if lk.End >= math.MaxInt64 || lk.End == math.MaxUint64 {
		return lk.Start, nfsclient.ToEOF
	}
	return lk.Start, lk.End - lk.Start + 1
}

func lockType(typ uint32, block bool) nfsclient.LockType {
	switch {
	case typ == syscall.F_RDLCK && block:
		return nfsclient.ReadLockW
	case typ == syscall.F_RDLCK:
		return nfsclient.ReadLock
	case block:
		return nfsclient.WriteLockW
	default:
		return nfsclient.WriteLock
	}
}

// setlk takes or releases one lock. block asks for the blocking lock
// types, which tell the server we are polling (for fairness); the wait
// itself is Setlkw's.
func (h *fileHandle) setlk(ctx context.Context, ls *lockState, lk *fuse.FileLock, block bool) error {
	sess := h.n.fsys.sess
	fh := h.n.getFH()
	off, length := lockRange(lk)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if lk.Typ == syscall.F_UNLCK {
		if ls.stateid == nil {
			return nil // this owner never locked anything here
		}
		// Whoever takes the lock next must see what was written under
		// it, as with the kernel client, which flushes before LOCKU.
		if err := h.n.wb.drain(ctx); err != nil {
			return err
		}
		sid, err := sess.Unlock(ctx, h.cred, fh, *ls.stateid, nfsclient.WriteLock, off, length)
		if err != nil {
			return err
		}
		ls.stateid = &sid
		ls.held.remove(off, length)
		ls.holds.Store(len(ls.held) > 0)
		return nil
	}
	args := nfsclient.LockArgs{Type: lockType(lk.Typ, block), Offset: off, Length: length}
	if ls.stateid != nil {
		args.LockStateid = ls.stateid
	} else {
		// Seqid 0 ("current", section 8.2.2) rather than the exact
		// one: reading that would need st.mu, which close holds while
		// it takes ls.mu (lock order st.mu, then ls.mu).
		args.OpenStateid = h.ioStateid()
		args.Owner = ls.owner
	}
	sid, err := sess.Lock(ctx, h.cred, fh, args)
	if err != nil {
		return err
	}
	ls.stateid = &sid
	ls.held.add(lockType(lk.Typ, false), off, length)
	ls.holds.Store(true)
	return nil
}

var _ = (fs.FileSetlker)((*fileHandle)(nil))

func (h *fileHandle) Setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	if e, lost := h.lostLockErrno(lk); lost {
		return e
	}
	ctx = opContext(ctx)
	ls := h.lockStateFor(owner, flags)
	err := h.setlk(ctx, ls, lk, false)
	var denied *nfsclient.LockDeniedError
	if flags&fuse.FUSE_LK_FLOCK != 0 {
		// The kernel lets a flock(2) lock go with the RELEASE of its
		// file, which it sends asynchronously after close: a process
		// that just exited may still hold its lock on the server
		// (`flock -n f true; flock -n f ...` must not fail). A denied
		// flock therefore waits for Releases of this file in progress
		// and asks again, a few times over ~30 ms for one that the
		// kernel has queued but we have not read yet.
		for delay := 5 * time.Millisecond; errors.As(err, &denied) && delay <= 20*time.Millisecond; delay *= 2 {
			if !h.n.waitFlockReleases(ctx) && !sleepCtx(ctx, delay) {
				break
			}
			err = h.setlk(ctx, ls, lk, false)
		}
	}
	if err == nil && lk.Typ != syscall.F_UNLCK {
		h.n.dropCachedData()
	}
	return h.n.errno(ctx, "LOCK", "", err)
}

// sleepCtx sleeps for d unless ctx ends first, which it reports as false.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// waitFlockReleases waits until no Release of n is unlocking flock locks
// and reports whether there was one to wait for.
func (n *node) waitFlockReleases(ctx context.Context) bool {
	if n.flockReleases.Load() == 0 {
		return false
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for n.flockReleases.Load() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// startRelease marks n as having a Release on its way that will unlock
// flock locks (see Setlk); call the returned func when they are unlocked.
// First thing in Release: a lock request that raced with it must see it.
func (h *fileHandle) startRelease() (done func()) {
	h.mu.Lock()
	has := len(h.flocks) > 0
	h.mu.Unlock()
	if !has {
		return func() {}
	}
	h.n.flockReleases.Add(1)
	return func() { h.n.flockReleases.Add(-1) }
}

// unlockFlocks releases the flock locks taken through h and frees their
// lock state on the server. The kernel releases a flock lock with the
// RELEASE of its file (the FUSE_RELEASE_FLOCK_UNLOCK flag, which go-fuse
// does not pass on), not with an unlock request, so Release must unlock
// them itself. A state whose unlock or free failed stays in st.flocks, for
// unlockAllLocked before the CLOSE.
func (h *fileHandle) unlockFlocks(ctx context.Context) {
	h.mu.Lock()
	flocks := h.flocks
	h.flocks = nil
	h.mu.Unlock()
	for _, ls := range flocks {
		whole := fuse.FileLock{Start: 0, End: math.MaxInt64, Typ: syscall.F_UNLCK}
		if err := h.setlk(ctx, ls, &whole, false); err != nil {
			h.n.fsys.log.Debug("flock unlock at release failed", zap.Error(err))
			continue
		}
		if h.freeLock(ctx, ls) {
			h.st.dropFlock(ls)
		}
	}
}

// freeLock frees ls's lock stateid, which holds no locks after the
// unlock, with FREE_STATEID (RFC 8881 section 18.38): otherwise a file
// kept open by one process while others flock it again and again would
// pile up lock-owners on the server until its CLOSE. It reports whether
// the state may be forgotten: not while the server says locks remain.
func (h *fileHandle) freeLock(ctx context.Context, ls *lockState) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.stateid == nil {
		return true // never granted a lock: nothing on the server
	}
	err := h.n.fsys.sess.FreeStateid(ctx, h.cred, *ls.stateid)
	var nerr *nfsclient.Error
	if errors.As(err, &nerr) && nerr.Status == nfsv4.NFS4ERR_LOCKS_HELD {
		h.n.fsys.log.Debug("flock state still holds locks after unlock; kept until close", zap.Error(err))
		return false
	}
	if err != nil {
		// CLOSE frees it anyway.
		h.n.fsys.log.Debug("FREE_STATEID of a flock state failed", zap.Error(err))
	}
	ls.stateid = nil
	return true
}

// unlockAll releases every lock of every owner on st before its CLOSE,
// which the server refuses while locks are held (NFS4ERR_LOCKS_HELD).
// The kernel normally unlocks first; this covers what it could not tell
// us. Caller holds st.mu.
func (st *openState) unlockAllLocked(ctx context.Context) {
	for ls := range st.allLocks() {
		ls.mu.Lock()
		if ls.stateid != nil {
			if _, err := st.n.fsys.sess.Unlock(ctx, st.cred, st.n.getFH(), *ls.stateid, nfsclient.WriteLock, 0, nfsclient.ToEOF); nfsclient.Revoked(err) {
				st.n.fsys.freeRevoked(ctx, st.cred, *ls.stateid, err)
			} else if err != nil {
				st.n.fsys.log.Debug("unlock before close failed", zap.Error(err))
			}
		}
		ls.mu.Unlock()
	}
}

// Setlkw backoff: start short (a lock held for a few milliseconds is the
// common case), double, and cap at a second so a released lock is noticed
// quickly without flooding the server.
const (
	lockPollMin = 10 * time.Millisecond
	lockPollMax = time.Second
)

var _ = (fs.FileSetlkwer)((*fileHandle)(nil))

// Setlkw polls: NFSv4.1 servers may call back when a lock frees up, but
// EFS runs no callbacks. The wait ends with EINTR when the caller is
// interrupted (the kernel cancels ctx).
func (h *fileHandle) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	if e, lost := h.lostLockErrno(lk); lost {
		return e
	}
	ls := h.lockStateFor(owner, flags)
	rpcCtx := opContext(ctx)
	delay := lockPollMin
	for {
		err := h.setlk(rpcCtx, ls, lk, true)
		var denied *nfsclient.LockDeniedError
		if !errors.As(err, &denied) {
			if err == nil && lk.Typ != syscall.F_UNLCK {
				h.n.dropCachedData()
			}
			return h.n.errno(rpcCtx, "LOCK", "", err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return syscall.EINTR
		case <-t.C:
		}
		delay = min(2*delay, lockPollMax)
	}
}

var _ = (fs.FileGetlker)((*fileHandle)(nil))

// Getlk tests with LOCKT. The holder's pid is unknown (it may be on
// another machine), so a conflict reports pid 0.
func (h *fileHandle) Getlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	ctx = opContext(ctx)
	off, length := lockRange(lk)
	ls := h.st.lockFor(owner)
	c, err := h.n.fsys.sess.TestLock(ctx, h.cred, h.n.getFH(), lockType(lk.Typ, false), off, length, ls.owner)
	if err != nil {
		return h.n.errno(ctx, "LOCKT", "", err)
	}
	if c == nil {
		*out = fuse.FileLock{Typ: syscall.F_UNLCK}
		return 0
	}
	out.Start = c.Offset
	// Length 0 (what ganesha reports for a lock to EOF) is "to EOF" as
	// well: the kernel client reports it as l_len 0, and an end before
	// the start would make the kernel answer EIO.
	if c.Length == nfsclient.ToEOF || c.Length == 0 || c.Offset+c.Length-1 >= math.MaxInt64 || c.Offset+c.Length < c.Offset {
		out.End = math.MaxInt64
	} else {
		out.End = c.Offset + c.Length - 1
	}
	out.Typ = syscall.F_WRLCK
	if c.Type == nfsclient.ReadLock || c.Type == nfsclient.ReadLockW {
		out.Typ = syscall.F_RDLCK
	}
	out.Pid = 0
	return 0
}

// lostLockErrno answers a lock request on a handle whose state was lost
// (reclaim.go) without asking the server, which holds nothing for it: an
// unlock succeeds (the kernel unlocks at every close), a lock fails with
// EIO.
func (h *fileHandle) lostLockErrno(lk *fuse.FileLock) (syscall.Errno, bool) {
	e := h.lostErrno()
	if e == 0 {
		return 0, false
	}
	if lk.Typ == syscall.F_UNLCK {
		return 0, true
	}
	return e, true
}

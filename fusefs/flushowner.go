package fusefs

import (
	"context"
	"math"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
)

// POSIX locks end when their process closes any descriptor of the file
// (fcntl(2)), and so when it dies. For a FUSE file with remote locks the
// kernel does not unlock them itself: it sends FLUSH at every close with
// the closing process's lock owner and leaves the unlock to the
// filesystem. go-fuse's fs API drops that owner, so flushOwnerFS, wrapped
// around the raw filesystem, records it for the Flush it forwards to, and
// fileHandle.Flush unlocks that owner's POSIX locks on the file.

// flushOwners holds the lock owner of each FLUSH in progress by the
// caller's pid (a thread id: one thread is in one close(2) at a time).
type flushOwners struct {
	mu     sync.Mutex
	owners map[uint32]flushOwner
}

type flushOwner struct {
	owner uint64
	// inFlight counts the FLUSHes of the pid; more than one at a time
	// (pid 0: callers outside the mount's pid namespace) makes the
	// owner ambiguous until all are done: none of them unlocks.
	inFlight  int
	ambiguous bool
}

// start records owner as the lock owner of pid's FLUSH until done is
// called.
func (f *flushOwners) start(pid uint32, owner uint64) (done func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owners == nil {
		f.owners = map[uint32]flushOwner{}
	}
	if o, busy := f.owners[pid]; busy {
		f.owners[pid] = flushOwner{inFlight: o.inFlight + 1, ambiguous: true}
	} else {
		f.owners[pid] = flushOwner{owner: owner, inFlight: 1}
	}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		o := f.owners[pid]
		if o.inFlight--; o.inFlight == 0 {
			delete(f.owners, pid)
		} else {
			f.owners[pid] = o
		}
	}
}

// of returns the lock owner of the FLUSH ctx belongs to.
func (f *flushOwners) of(ctx context.Context) (uint64, bool) {
	caller, ok := fuse.FromContext(ctx)
	if !ok {
		return 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.owners[caller.Pid]
	return o.owner, ok && !o.ambiguous
}

// flushOwnerFS is the raw filesystem go-fuse serves: fs's bridge, with
// FLUSH's lock owner recorded for fileHandle.Flush.
type flushOwnerFS struct {
	fuse.RawFileSystem
	owners *flushOwners
}

func (f *flushOwnerFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	defer f.owners.start(in.Caller.Pid, in.LockOwner)()
	return f.RawFileSystem.Flush(cancel, in)
}

// unlockOwner releases every POSIX lock that lock owner holds on n, through
// whichever of n's opens (one per user) it took them: close(2) of any
// descriptor of a file ends the process's locks on it.
func (n *node) unlockOwner(ctx context.Context, owner uint64) {
	if !n.lockOwners.take(owner) {
		// This owner never locked the file: no lock state to look
		// at, and no waiting for an OPEN or CLOSE in flight that
		// holds st.mu (a forked child's exec closes its inherited
		// descriptors: it must not wait for a server that is down).
		return
	}
	n.mu.Lock()
	states := make([]*openState, 0, len(n.opens))
	for _, st := range n.opens {
		states = append(states, st)
	}
	n.mu.Unlock()
	for _, st := range states {
		st.mu.Lock()
		ls := st.locks[owner]
		st.mu.Unlock()
		if ls == nil || !ls.holds.Load() {
			continue
		}
		// The LOCKU goes as the user whose open holds the lock.
		h := &fileHandle{n: n, st: st, cred: st.cred}
		whole := fuse.FileLock{Start: 0, End: math.MaxInt64, Typ: syscall.F_UNLCK}
		if err := h.setlk(ctx, ls, &whole, false); err != nil {
			n.fsys.log.Debug("unlock at close failed", zap.Error(err))
		}
	}
}

// lockOwnerSet is the set of lock owners that locked a file, so that a
// close by any other owner (most closes) skips the unlock pass. Its mutex
// is a leaf: nothing else is taken while it is held.
type lockOwnerSet struct {
	mu     sync.Mutex
	owners map[uint64]struct{}
}

func (s *lockOwnerSet) add(owner uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owners == nil {
		s.owners = map[uint64]struct{}{}
	}
	s.owners[owner] = struct{}{}
}

// take removes owner and reports whether it was there: a close ends all
// of the owner's POSIX locks on the file, so it has none until it locks
// again (and is added again).
func (s *lockOwnerSet) take(owner uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.owners[owner]
	delete(s.owners, owner)
	return ok
}

// clear forgets every owner: the file's last open is closed, and its
// locks with it.
func (s *lockOwnerSet) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owners = nil
}

// forgetLockOwnersIfClosed forgets the file's lock owners once no open of
// it is left: their locks went with the last CLOSE. Under n.mu, so that
// no open (and so no lock) can appear meanwhile.
func (n *node) forgetLockOwnersIfClosed() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.opens) == 0 {
		n.lockOwners.clear()
	}
}

package fusefs

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// openState is one NFS OPEN: the share state of one open-owner (a local
// uid, RFC 8881 section 9.1.2) on one file, shared by every FUSE handle
// that user has on the file. It is refcounted by handles and CLOSEd when
// the last one is released, so a thousand open(2)s of one file by one
// user cost one OPEN and one CLOSE.
//
// Its lifecycle: created (refs reserved, not yet open) -> open (after a
// successful OPEN) -> maybe upgraded (a new OPEN with the union of
// access, when a writer joins readers) -> closed (last release).
type openState struct {
	n     *node
	cred  rpc.Cred // the open-owner's credentials; CLOSE goes as them
	owner []byte   // open-owner name, one per uid

	// refs is guarded by n.mu: handles holding (or about to hold) this
	// state. The state leaves n.opens when it drops to zero.
	refs int

	// mu serializes OPEN, upgrade and CLOSE of this state (they change
	// its seqid) and guards the fields below. It is held across those
	// RPCs: they are the state transitions it orders. Take n.mu before
	// mu, never the other way round.
	mu      sync.Mutex
	open    bool
	stateid nfsclient.Stateid
	access  uint32
	locks   map[uint64]*lockState   // POSIX and OFD locks by FUSE lock owner; dropped at CLOSE
	flocks  map[*lockState]struct{} // flock states of the handles (see flockFor); dropped at CLOSE

	// other is the stateid's "other" field once open: it identifies the
	// state for I/O (with seqid 0, see ioStateid) and never changes
	// while the state lives. Atomic so handles read it without locks.
	other atomic.Pointer[[12]byte]

	// lost is set when recovery after a server restart could not
	// re-open this state or re-take one of its locks: its handles then
	// fail with EIO, and it holds nothing on the server (markLostLocked).
	lost atomic.Bool
}

// ioStateid returns the stateid for READ, WRITE, SETATTR and LOCK. Its
// seqid is zero, which RFC 8881 section 8.2.2 defines as "the current
// one": I/O racing with an upgrade (which bumps the seqid) then never
// fails with OLD_STATEID, and callers need no lock.
func (st *openState) ioStateid() nfsclient.Stateid {
	if o := st.other.Load(); o != nil {
		return nfsclient.Stateid{Other: *o}
	}
	return nfsclient.AnonymousStateid
}

// acquireOpen returns the open state of cred's open-owner on n with at
// least access, reserving one reference for the caller. A state is
// created by an OPEN, or upgraded by one that asks for the union of the
// old and new access. Open's attributes come back in attr (the zero Attr
// when no OPEN was needed).
func (n *node) acquireOpen(ctx context.Context, cred rpc.Cred, access uint32) (*openState, nfsclient.Attr, error) {
	st := n.holdOpenAfterClose(ctx, cred)

	st.mu.Lock()
	defer st.mu.Unlock()
	if st.open && st.access&access == access {
		return st, nfsclient.Attr{}, nil
	}
	res, err := n.fsys.sess.Open(ctx, cred, nfsclient.OpenArgs{
		FH: n.getFH(), Access: st.access | access, Owner: st.owner,
	})
	if err != nil {
		n.dropRef(st)
		return nil, nfsclient.Attr{}, err
	}
	n.installLocked(st, res.Stateid, access)
	return st, res.Attr, nil
}

// adoptOpen records a state created by OPEN with CREATE (the file did not
// have a node yet) with one reference for the caller. If the owner
// already had a state here (a hard link of an open file, or a race), the
// server has merged the two into one stateid, and so do we.
func (n *node) adoptOpen(cred rpc.Cred, stateid nfsclient.Stateid, access uint32) *openState {
	st := n.holdOpen(cred)
	st.mu.Lock()
	defer st.mu.Unlock()
	n.installLocked(st, stateid, access)
	return st
}

// holdOpen returns cred's open state on n (made if there is none) with one
// more reference for the caller.
func (n *node) holdOpen(cred rpc.Cred) *openState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.holdOpenLocked(cred)
}

func (n *node) holdOpenLocked(cred rpc.Cred) *openState {
	if n.opens == nil {
		n.opens = map[uint32]*openState{}
	}
	st := n.opens[cred.UID]
	if st == nil || st.lost.Load() {
		// A lost state keeps its handles (they fail with EIO) but
		// nothing else: a new open starts afresh.
		st = &openState{n: n, cred: cred, owner: nfsclient.OpenOwner(cred)}
		n.opens[cred.UID] = st
	}
	st.refs++
	return st
}

// installLocked records a successful OPEN in st. Caller holds st.mu.
func (n *node) installLocked(st *openState, stateid nfsclient.Stateid, access uint32) {
	if !st.open || stateid.Seqid > st.stateid.Seqid || stateid.Other != st.stateid.Other {
		st.stateid = stateid
	}
	if !st.open {
		n.fsys.mu.Lock()
		n.fsys.opens[st] = struct{}{}
		n.fsys.mu.Unlock()
	}
	st.open = true
	st.access |= access
	other := st.stateid.Other
	st.other.Store(&other)
}

// dropRef gives back one reference and reports whether it was the last;
// the last one also removes st from n.opens, so a later open starts a
// new state.
func (n *node) dropRef(st *openState) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dropRefLocked(st)
}

func (n *node) dropRefLocked(st *openState) bool {
	st.refs--
	if st.refs > 0 {
		return false
	}
	if n.opens[st.cred.UID] == st {
		delete(n.opens, st.cred.UID)
	}
	return true
}

// releaseOpen drops a handle's reference and CLOSEs the state when it was
// the last. The CLOSE carries the exact current seqid (not zero): an OPEN
// by the same owner that overtakes it makes the server answer
// OLD_STATEID, and the new state stays open. An OPEN never runs at the
// same time as the CLOSE, though (waitClosing).
func (n *node) releaseOpen(ctx context.Context, st *openState) error {
	// The last reference and the closing mark go together, so an open
	// that finds no state here also finds the CLOSE to wait for.
	n.mu.Lock()
	if !n.dropRefLocked(st) {
		n.mu.Unlock()
		return nil
	}
	done := make(chan struct{})
	if n.closing == nil {
		n.closing = map[uint32]chan struct{}{}
	}
	n.closing[st.cred.UID] = done
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		if n.closing[st.cred.UID] == done {
			delete(n.closing, st.cred.UID)
		}
		n.mu.Unlock()
		close(done)
	}()
	return st.close(ctx)
}

// holdOpenAfterClose is holdOpen that, when it has to make a new state,
// first waits until a CLOSE of the owner's previous state here has been
// answered. The server keeps one open stateid per open-owner and file, and
// nfs-ganesha, given an OPEN and a CLOSE of it at the same time on two
// slots, can let the CLOSE end the state the OPEN has just answered with
// (seen as BAD_STATEID on the new open's SETATTR, WRITE or LOCK). A CLOSE
// that arrives after the OPEN is refused with OLD_STATEID, as it should
// be; overlapping is what must not happen. The wait is one round trip,
// and only right after a last close. An interrupted wait goes on to the
// OPEN, which decides, as every request does, whether the interrupt ends
// it (see opContext).
func (n *node) holdOpenAfterClose(ctx context.Context, cred rpc.Cred) *openState {
	for {
		n.mu.Lock()
		done := n.closing[cred.UID]
		if n.opens[cred.UID] != nil || done == nil || ctx.Err() != nil {
			defer n.mu.Unlock()
			return n.holdOpenLocked(cred)
		}
		n.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}

func (st *openState) close(ctx context.Context) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.open {
		return nil
	}
	st.open = false
	st.unlockAllLocked(ctx)
	st.locks, st.flocks = nil, nil
	fsys := st.n.fsys
	fsys.mu.Lock()
	delete(fsys.opens, st)
	fsys.mu.Unlock()
	if err := fsys.sess.CloseState(ctx, st.cred, st.n.getFH(), st.stateid); err != nil {
		if nfsclient.Revoked(err) {
			// Nothing left to close: let the server forget it (freeRevoked).
			fsys.freeRevoked(ctx, st.cred, st.stateid, err)
			return nil
		}
		return fmt.Errorf("CLOSE: %w", err)
	}
	return nil
}

// freeRevoked frees a stateid the server revoked (err said so), so that
// the server can drop it and stop flagging revoked state in every
// SEQUENCE reply. Best effort: the state is gone either way.
func (fsys *filesystem) freeRevoked(ctx context.Context, cred rpc.Cred, sid nfsclient.Stateid, err error) {
	fsys.log.Info("server revoked a stateid; freeing it", zap.Error(err))
	if ferr := fsys.sess.FreeStateid(ctx, cred, sid); ferr != nil {
		fsys.log.Debug("FREE_STATEID of a revoked stateid failed", zap.Error(ferr))
	}
}

// commitAll COMMITs the unstable writes of every open file (Unmount's
// first step).
func (fsys *filesystem) commitAll(ctx context.Context) error {
	var firstErr error
	for _, st := range fsys.liveOpens() {
		if err := st.n.wb.commit(ctx, st.cred, st.n); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// closeAll CLOSEs every NFS open left after the kernel unmount, when no
// handle can use them any more.
func (fsys *filesystem) closeAll(ctx context.Context) {
	for _, st := range fsys.liveOpens() {
		if err := st.n.wb.commit(ctx, st.cred, st.n); err != nil {
			fsys.log.Warn("commit at unmount failed", zap.Error(err))
		}
		if err := st.close(ctx); err != nil {
			fsys.log.Warn("close at unmount failed", zap.Error(err))
		}
	}
}

func (fsys *filesystem) liveOpens() []*openState {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	out := make([]*openState, 0, len(fsys.opens))
	for st := range fsys.opens {
		out = append(out, st)
	}
	return out
}

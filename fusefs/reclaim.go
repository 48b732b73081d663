package fusefs

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// Reclaim re-establishes the mount's open files and locks after the server
// lost them (a restart): nfsclient calls it, through the Config.Reclaim
// hook, during the server's grace period and before any other request
// runs. Each NFS OPEN is re-opened with its access, then each lock-owner's
// ranges are taken again. A file whose state cannot be recovered (removed
// meanwhile, a lock someone else took in between, or any lock when the
// server has no grace period for us) is marked lost: its
// handles fail with EIO, and the log names it; every other file carries on.
//
// Reclaim never waits for a request in flight: one that holds a file's
// state (an OPEN upgrade, a CLOSE, a LOCK sent before the server went
// away) is itself waiting for this recovery to end, so waiting for it
// would hang the mount for good. Such a file is repaired once that
// request is done (repairMissed).
func (s *Server) Reclaim(ctx context.Context, r *nfsclient.Reclaimer) error {
	for _, st := range s.fsys.liveOpens() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !tryLock(&st.mu) {
			old := st.other.Load()
			s.fsys.repairs.Add(1)
			go func() {
				defer s.fsys.repairs.Done()
				st.repairMissed(old)
			}()
			continue
		}
		st.reclaimLocked(ctx, r)
		st.mu.Unlock()
	}
	return nil
}

// reclaimLocked re-opens st and re-takes its locks. Caller holds st.mu.
func (st *openState) reclaimLocked(ctx context.Context, r *nfsclient.Reclaimer) {
	if !st.open || st.lost.Load() {
		return
	}
	n := st.n
	log := st.fileLog()
	sid, err := r.ReclaimOpen(ctx, st.cred, n.getFH(), st.owner, st.access, st.stateid)
	if err != nil {
		st.markLostLocked()
		log.Error("could not recover an open file after the server restarted; its handles now fail with EIO", zap.Error(err))
		return
	}
	st.stateid = sid
	other := sid.Other
	st.other.Store(&other)
	for ls := range st.allLocks() {
		ok := true
		switch {
		case tryLock(&ls.mu):
			ok = ls.reclaim(ctx, r, st, log)
			ls.mu.Unlock()
		case ls.holds.Load():
			// A LOCK or LOCKU of this owner is in flight, waiting
			// for the recovery: what the owner holds cannot be
			// known, so it cannot be re-taken.
			log.Error("a lock request was in flight while the server lost our locks; the file's handles now fail with EIO")
			ok = false
		}
		// An owner with a request in flight but nothing held has
		// nothing to re-take: its LOCK goes on under the re-opened
		// state.
		if !ok {
			// The re-opened state is of no use to the handles now:
			// close it, so that the next open of the file starts a
			// state of its own on the server.
			if err := r.CloseState(ctx, st.cred, n.getFH(), st.stateid); err != nil {
				log.Debug("CLOSE of a state given up after a lost lock failed", zap.Error(err))
			}
			st.markLostLocked()
			return
		}
	}
	log.Info("open file recovered after server restart", zap.Int("lock_owners", len(st.locks)+len(st.flocks)))
}

// fileLog is the mount's logger, naming st's file.
func (st *openState) fileLog() *zap.Logger {
	return st.n.fsys.log.With(zap.String("file", "/"+st.n.Path(nil)))
}

// reopenLocked opens st's file again by handle (CLAIM_FH) after the server
// lost or revoked its open, and installs the new stateid. Caller holds
// st.mu.
func (st *openState) reopenLocked(ctx context.Context) error {
	o, err := st.n.fsys.sess.Open(ctx, st.cred, nfsclient.OpenArgs{FH: st.n.getFH(), Access: st.access, Owner: st.owner})
	if err != nil {
		return err
	}
	st.n.installLocked(st, o.Stateid, st.access)
	return nil
}

// abandonLocked gives st up after it lost a lock outside recovery: when
// the server still has its open (openOnServer), the locks it still has
// are released and the open closed, so the next open of the file starts
// afresh; then markLostLocked. Caller holds st.mu.
func (st *openState) abandonLocked(ctx context.Context, openOnServer bool) {
	if openOnServer {
		st.unlockAllLocked(ctx)
		if err := st.n.fsys.sess.CloseState(ctx, st.cred, st.n.getFH(), st.stateid); err != nil {
			st.n.fsys.log.Debug("CLOSE of a state given up after a lost lock failed", zap.Error(err))
		}
	}
	st.markLostLocked()
}

// markLostLocked gives st up: its handles fail with EIO from now on, it
// holds no state on the server (and sends no CLOSE when released), and the
// next open of the file by its owner starts a new state (holdOpenLocked).
// Caller holds st.mu.
func (st *openState) markLostLocked() {
	st.lost.Store(true)
	st.open = false
	st.locks, st.flocks = nil, nil
	fsys := st.n.fsys
	fsys.mu.Lock()
	delete(fsys.opens, st)
	fsys.mu.Unlock()
}

// reclaim re-takes every range of one lock-owner and reports whether all
// of them were; the failure is logged. Caller holds st.mu and ls.mu.
func (ls *lockState) reclaim(ctx context.Context, r *nfsclient.Reclaimer, st *openState, log *zap.Logger) bool {
	if ls.stateid == nil || len(ls.held) == 0 {
		ls.stateid = nil
		return true
	}
	old := *ls.stateid
	var cur *nfsclient.Stateid
	for _, h := range ls.held {
		a := nfsclient.LockArgs{Type: h.typ, Offset: h.start, Length: h.length(), OpenStateid: st.stateid, Owner: ls.owner, LockStateid: cur}
		sid, err := r.ReclaimLock(ctx, st.cred, st.n.getFH(), a, old)
		if err != nil {
			msg := "could not re-take a lock after the server restarted; the file's handles now fail with EIO"
			if errors.Is(err, nfsclient.ErrLockLost) {
				msg = "lock lost: the server kept no grace period to reclaim it in, so another client may have held it meanwhile; the file's handles now fail with EIO"
			}
			log.Error(msg, zap.Uint64("offset", h.start), zap.Uint64("length", h.length()), zap.Error(err))
			return false
		}
		cur = &sid
	}
	ls.stateid = cur
	return true
}

// busyWait is how long recovery tries for a file's lock before it takes
// the file for busy with a request in flight: long enough for the short
// holds (a map lookup under the lock), far shorter than any round trip.
const busyWait = 50 * time.Millisecond

// tryLock locks mu unless it stays held for busyWait.
func tryLock(mu *sync.Mutex) bool {
	for deadline := time.Now().Add(busyWait); ; time.Sleep(time.Millisecond) {
		if mu.TryLock() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// repairTimeout bounds the requests of one repairMissed.
const repairTimeout = time.Minute

// repairMissed brings st up to date after a recovery that found it busy
// (Reclaim): it waits for the request holding it, then, unless that
// request closed it or opened it afresh on the new server (its stateid is
// no longer old), opens it again with CLAIM_FH. Locks cannot be re-taken
// outside the grace period, so a file that held any is lost, as after a
// restart without grace.
func (st *openState) repairMissed(old *[12]byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.open || st.lost.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), repairTimeout)
	defer cancel()
	log := st.fileLog()
	fresh := old == nil || *st.other.Load() != *old
	for ls := range st.allLocks() {
		if ls.holds.Load() {
			// Only a fresh open (made on the new server) holds
			// anything there to release.
			st.abandonLocked(ctx, fresh)
			log.Error("the server lost our locks while a request on the file was in flight; the file's handles now fail with EIO")
			return
		}
	}
	if fresh {
		return
	}
	if err := st.reopenLocked(ctx); err != nil {
		st.markLostLocked()
		log.Error("could not recover an open file after the server lost it; its handles now fail with EIO", zap.Error(err))
		return
	}
	for ls := range st.allLocks() {
		// None holds a lock (checked above); their stateids died with
		// the server's state, so their next LOCK starts from the open.
		if ls.mu.TryLock() {
			ls.stateid = nil
			ls.mu.Unlock()
		}
	}
	log.Info("open file recovered after the server lost it (it was busy during the recovery)")
}

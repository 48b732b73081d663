package fusefs

import (
	"context"
	"errors"

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
func (s *Server) Reclaim(ctx context.Context, r *nfsclient.Reclaimer) error {
	for _, st := range s.fsys.liveOpens() {
		if err := ctx.Err(); err != nil {
			return err
		}
		st.reclaim(ctx, r)
	}
	return nil
}

func (st *openState) reclaim(ctx context.Context, r *nfsclient.Reclaimer) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.open || st.lost.Load() {
		return
	}
	n := st.n
	log := n.fsys.log.With(zap.String("file", "/"+n.Path(nil)))
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
		ls.mu.Lock()
		ok := ls.reclaim(ctx, r, st, log)
		ls.mu.Unlock()
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

package fusefs

import (
	"context"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// CheckRevoked acts on the server's report that it revoked some of our
// state while keeping the session (nfsclient calls it through the
// Config.Revoked hook): each open file's stateids are tested
// (TEST_STATEID) and the revoked ones freed (FREE_STATEID), which also
// stops the server reporting them. A file whose open alone was revoked is
// opened again (CLAIM_FH) and its handles carry on; a file that lost a
// lock is marked lost, as after a restart without grace (reclaim.go),
// because someone else may have held the range meanwhile: its handles fail
// with EIO and the next open starts afresh.
func (s *Server) CheckRevoked(ctx context.Context) {
	for _, st := range s.fsys.liveOpens() {
		if ctx.Err() != nil {
			return
		}
		st.checkRevoked(ctx)
	}
}

func (st *openState) checkRevoked(ctx context.Context) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.open || st.lost.Load() {
		return
	}
	sess, log := st.n.fsys.sess, st.fileLog()
	ids := []nfsclient.Stateid{st.stateid}
	for ls := range st.allLocks() {
		ls.mu.Lock()
		if ls.stateid != nil {
			ids = append(ids, *ls.stateid)
		}
		ls.mu.Unlock()
	}
	res, err := sess.TestStateids(ctx, st.cred, ids)
	if err != nil {
		log.Warn("could not test the file's stateids after the server reported revoked state", zap.Error(err))
		return
	}
	for i, e := range res {
		if nfsclient.Revoked(e) {
			st.n.fsys.freeRevoked(ctx, st.cred, ids[i], e)
		}
	}
	openRevoked, lockRevoked := nfsclient.Revoked(res[0]), false
	for _, e := range res[1:] {
		lockRevoked = lockRevoked || nfsclient.Revoked(e)
	}
	switch {
	case lockRevoked:
		st.abandonLocked(ctx, !openRevoked)
		log.Error("server revoked a lock; the file's handles now fail with EIO", zap.Error(firstRevoked(res[1:])))
	case openRevoked:
		if err := st.reopenLocked(ctx); err != nil {
			st.markLostLocked()
			log.Error("server revoked an open file, and opening it again failed; its handles now fail with EIO",
				zap.NamedError("revoked", res[0]), zap.Error(err))
			return
		}
		log.Warn("server revoked an open file; opened it again", zap.NamedError("revoked", res[0]))
	}
}

// firstRevoked returns the first error in errs that says revoked.
func firstRevoked(errs []error) error {
	for _, e := range errs {
		if nfsclient.Revoked(e) {
			return e
		}
	}
	return nil
}

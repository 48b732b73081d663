package nfsclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/buildbarn/go-xdr/pkg/runtime"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// errSessionReplaced tells compound that a request was encoded for a
// session that recovery has since replaced: encode it again and resend.
var errSessionReplaced = errors.New("nfsclient: session replaced")

// errStateRecovery marks an op's failure that made the request start a
// state recovery (STALE_CLIENTID with a working session): resend once the
// recovery is done.
var errStateRecovery = errors.New("nfsclient: server lost our client id; recovering")

// maxStateRecoveries bounds how often one request starts a recovery and
// tries again, so that a server answering STALE_CLIENTID to every client
// id fails the request (EIO) rather than recovering forever.
const maxStateRecoveries = 3

// compoundArgs is COMPOUND4args with the SEQUENCE op prepended at encode
// time, so op slices built by callers are never copied.
type compoundArgs struct {
	seq nfsv4.NfsArgop4_OP_SEQUENCE
	ops []nfsv4.NfsArgop4
}

func (a *compoundArgs) args(withSeq bool) *nfsv4.Compound4args {
	ops := a.ops
	if withSeq {
		ops = append([]nfsv4.NfsArgop4{&a.seq}, a.ops...)
	}
	return &nfsv4.Compound4args{Minorversion: 1, Argarray: ops}
}

// compound runs ops after a SEQUENCE on a session slot and returns their
// results (without SEQUENCE's). A failed op gives *Error for that op
// together with the results so far, whose last element is the failed op's
// result (callers like LOCK read details from it).
//
// Below this line every failure that can be survived is survived:
// connection loss (resend on a new connection), session loss (re-encode on
// a new session), NFS4ERR_DELAY and NFS4ERR_GRACE (back off and retry,
// RFC 8881 sections 15.1.1.3 and 8.4.2). Only ctx (an interrupted caller,
// or the soft-mount Timeout) ends the wait.
func (c *Client) compound(ctx context.Context, cred rpc.Cred, ops ...nfsv4.NfsArgop4) ([]nfsv4.NfsResop4, error) {
	r := c.compoundRec(ctx, cred, ops)
	return r.res, r.err // r.rec, if any, is left to the garbage collector
}

// compoundRec is compound, also returning the reply record when a READ
// result's data is a slice of it (see readOK): the caller hands it back
// with rpc.ReleaseRecord once done with the data.
func (c *Client) compoundRec(ctx context.Context, cred rpc.Cred, ops []nfsv4.NfsArgop4) callResult {
	if c.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	ctx, done := c.interruptible(ctx)
	defer done()
	c.ops.count(ops)
	backoff := 10 * time.Millisecond
	recoveries, putfhFaults := 0, 0
	for {
		epoch := c.recoveries.Load()
		r := c.compoundOnce(ctx, cred, ops)
		err := r.err
		var nerr *Error
		switch {
		case errors.Is(err, errSessionReplaced):
			continue
		case errors.Is(err, errStateRecovery):
			if recoveries < maxStateRecoveries {
				recoveries++
				continue
			}
			errors.As(err, &nerr)
			r.err = nerr // the op's own failure, without the marker
			return r
		case errors.As(err, &nerr) && nerr.Status == nfsv4.NFS4ERR_RETRY_UNCACHED_REP:
			// A resend of a request that ran, but whose reply the
			// server did not keep. We only let that happen for
			// idempotent requests (see cacheThis), which may simply
			// run again as a new request.
			continue
		case errors.As(err, &nerr) && isStaleState(nerr.Status) && c.recoveries.Load() != epoch:
			// Recovery ran while this request was in flight: its
			// stateids are translated on the next attempt.
			continue
		case errors.As(err, &nerr) && nerr.Status == nfsv4.NFS4ERR_SERVERFAULT && nerr.Op == "PUTFH" && putfhFaults < maxPutfhFaults:
			// nfs-ganesha answers PUTFH of an object being removed at
			// that moment with SERVERFAULT rather than STALE. Nothing
			// after a failed PUTFH ran, so the request may go again;
			// a moment later the handle is plainly stale (or fine).
			putfhFaults++
			fallthrough
		case errors.As(err, &nerr) && (nerr.Status == nfsv4.NFS4ERR_DELAY || nerr.Status == nfsv4.NFS4ERR_GRACE):
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return r
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		return r
	}
}

// maxPutfhFaults bounds the resends of a request whose PUTFH failed with
// SERVERFAULT (see compoundRec).
const maxPutfhFaults = 2

// isStaleState reports statuses a request gets for state from before a
// server restart.
func isStaleState(s nfsv4.Nfsstat4) bool {
	switch s {
	case nfsv4.NFS4ERR_BAD_STATEID, nfsv4.NFS4ERR_STALE_STATEID, nfsv4.NFS4ERR_EXPIRED,
		nfsv4.NFS4ERR_OLD_STATEID, nfsv4.NFS4ERR_STALE_CLIENTID:
		return true
	}
	return false
}

// callResult is what a transmit goroutine hands back.
type callResult struct {
	res []nfsv4.NfsResop4
	err error
	rec []byte // the reply record when res holds slices of it (READ data)
}

// compoundOnce encodes ops for the current session, sends them, and waits
// for the outcome or ctx. The request itself lives in a transmit goroutine
// that outlives an impatient caller: its slot stays reserved, and the
// request is resent across reconnects, until its reply arrives or its
// session ends (RFC 8881 section 2.10.6.2: a slot may not be reused while
// its request might still execute).
func (c *Client) compoundOnce(ctx context.Context, cred rpc.Cred, ops []nfsv4.NfsArgop4) callResult {
	s := c.sess.Load()
	g, err := s.slots.acquire(ctx)
	if err != nil {
		return callResult{err: err}
	}
	rebindOps(ops, s.clientID, c.stateMap.Load())
	rec, err := c.encodeCompound(s, g, cred, ops)
	if err != nil {
		s.slots.release(g.id, false)
		return callResult{err: err}
	}
	done := make(chan callResult, 1)
	spread := len(c.extras) > 0 && spreadable(ops)
	if !c.goOwned(func() { c.transmit(s, g, rec, spread, done) }) {
		s.slots.release(g.id, false)
		rpc.ReleaseCall(rec)
		return callResult{err: ErrClosed}
	}
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		// An answer arriving later is dropped with its record, which
		// is then garbage collected rather than pooled.
		return callResult{err: ctx.Err()}
	}
}

// interruptPoll is how often an interrupted caller rechecks whether the
// server stopped answering.
const interruptPoll = 100 * time.Millisecond

// interruptible derives the context an operation waits under. Like a
// kernel "hard" mount, a caller's cancellation (a signal to a process in a
// FUSE request) ends the wait only while the server is not answering: a
// request that is being served finishes, since reporting EINTR for a
// CREATE or RENAME that ran anyway is worse than a short wait. Deadlines
// (the soft-mount Timeout) always apply. The returned cancel must be
// called when the operation ends.
func (c *Client) interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	ictx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	if d, ok := ctx.Deadline(); ok {
		var cancelDeadline context.CancelFunc
		var dctx context.Context
		dctx, cancelDeadline = context.WithDeadline(ictx, d)
		ictx = dctx
		prev := cancel
		cancel = func(err error) { cancelDeadline(); prev(err) }
	}
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return // ictx has the same deadline
		}
		t := time.NewTicker(interruptPoll)
		defer t.Stop()
		for {
			if c.stalled() {
				cancel(context.Canceled)
				return
			}
			select {
			case <-ictx.Done():
				return
			case <-t.C:
			}
		}
	})
	return ictx, func() { stop(); cancel(nil) }
}

// stalled reports that requests cannot currently be answered: no
// connection (reconnecting), or requests pending on one that has been
// silent for a heartbeat.
func (c *Client) stalled() bool {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	return conn == nil || (conn.Pending() > 0 && time.Since(conn.LastReceive()) > c.cfg.Heartbeat)
}

func (c *Client) encodeCompound(s *session, g slotGrant, cred rpc.Cred, ops []nfsv4.NfsArgop4) ([]byte, error) {
	a := compoundArgs{ops: ops}
	a.seq.Opsequence = nfsv4.Sequence4args{
		SaSessionid:     s.id,
		SaSequenceid:    g.seqid,
		SaSlotid:        g.id,
		SaHighestSlotid: g.highest,
		SaCachethis:     cacheThis(ops),
	}
	return c.prog.EncodeCall(c.xids.Next(), procComp, cred, a.args(true))
}

// cacheThis asks the server to keep the reply of requests that must not
// run twice (RFC 8881 section 2.10.6.1.3): a resend after a lost connection
// then gets the original reply instead of a second execution (a second
// CREATE would fail with EXIST, a second REMOVE with NOENT). READ, WRITE,
// GETATTR and friends are idempotent and their replies are large, so they
// are not cached and simply run again.
func cacheThis(ops []nfsv4.NfsArgop4) bool {
	for _, op := range ops {
		switch op.(type) {
		case *nfsv4.NfsArgop4_OP_OPEN, *nfsv4.NfsArgop4_OP_CLOSE, *nfsv4.NfsArgop4_OP_OPEN_DOWNGRADE,
			*nfsv4.NfsArgop4_OP_CREATE, *nfsv4.NfsArgop4_OP_REMOVE, *nfsv4.NfsArgop4_OP_RENAME,
			*nfsv4.NfsArgop4_OP_LINK, *nfsv4.NfsArgop4_OP_SETATTR, *nfsv4.NfsArgop4_OP_LOCK,
			*nfsv4.NfsArgop4_OP_LOCKU, *nfsv4.NfsArgop4_OP_RECLAIM_COMPLETE:
			return true
		}
	}
	return false
}

// transmit sends rec, resending the same bytes on each new connection
// until a reply comes, and delivers the decoded outcome to done. A spread
// request may go on an extra connection (sendConn).
func (c *Client) transmit(s *session, g slotGrant, rec []byte, spread bool, done chan<- callResult) {
	defer rpc.ReleaseCall(rec) // sent for the last time
	for {
		conn, err := c.sendConn(spread)
		if err != nil {
			s.slots.release(g.id, false)
			done <- callResult{err: ErrClosed}
			return
		}
		if c.sess.Load() != s {
			s.slots.release(g.id, false)
			done <- callResult{err: errSessionReplaced}
			return
		}
		c.lastSent.Store(time.Now().UnixNano())
		ch, err := conn.Send(rec)
		if err == nil {
			r := <-ch
			if r.Err == nil {
				res, flags, err := c.finish(s, g, r.Record)
				if flags != 0 {
					c.noteSeqFlags(s, flags)
				}
				var nerr *Error
				switch {
				case errors.As(err, &nerr) && nerr.Op == "SEQUENCE" && lostClientState(nerr.Status):
					// The server lost our client id, or our lease
					// ran out while it was unreachable (EXPIRED:
					// it may still know the client id, but not our
					// opens and locks): full recovery, even if it
					// kept the session (BIND_CONN_TO_SESSION would
					// then succeed).
					c.requestRecovery(s, "SEQUENCE: "+StatusName(nerr.Status))
					err = errSessionReplaced
				case errors.As(err, &nerr) && nerr.Op == "SEQUENCE" && isSessionGone(nerr.Status):
					// The server dropped the session: reconnecting
					// finds out why and makes a new one.
					c.sessionTrouble(conn, err)
					err = errSessionReplaced
				case errors.As(err, &nerr) && nerr.Status == nfsv4.NFS4ERR_STALE_CLIENTID:
					// An op (OPEN, LOCK) names a client id the
					// server no longer knows although SEQUENCE
					// passed: its state is gone just as after a
					// restart. Nothing after the failed op ran, so
					// the request can be sent again after recovery.
					c.requestRecovery(s, nerr.Op+": NFS4ERR_STALE_CLIENTID")
					err = fmt.Errorf("%w: %w", errStateRecovery, err)
				}
				out := callResult{res: res, err: err}
				if holdsReadData(res) {
					out.rec = r.Record
				} else {
					rpc.ReleaseRecord(r.Record) // decoded: nothing refers to it
				}
				done <- out
				return
			}
			err = r.Err
		}
		if !errors.Is(err, rpc.ErrConnClosed) {
			s.slots.release(g.id, false)
			done <- callResult{err: err}
			return
		}
		c.connLost(conn, err)
	}
}

// compoundOn runs ops synchronously on a given connection and session,
// bypassing reconnects: for session bring-up and state recovery, which run
// before the connection is handed to everyone else.
func (c *Client) compoundOn(ctx context.Context, conn *rpc.Conn, s *session, cred rpc.Cred, ops ...nfsv4.NfsArgop4) ([]nfsv4.NfsResop4, error) {
	backoff := 10 * time.Millisecond
	for {
		g, err := s.slots.acquire(ctx)
		if err != nil {
			return nil, err
		}
		rebindOps(ops, s.clientID, nil)
		rec, err := c.encodeCompound(s, g, cred, ops)
		if err != nil {
			s.slots.release(g.id, false)
			return nil, err
		}
		body, err := conn.Call(ctx, rec)
		rpc.ReleaseCall(rec) // Call has written it; nothing resends it
		if err != nil {
			// The connection is unusable; the slot's fate is unknown,
			// but this session is being abandoned with the connection.
			s.slots.release(g.id, false)
			return nil, err
		}
		res, _, err := c.finishBody(s, g, body)
		var nerr *Error
		if errors.As(err, &nerr) && nerr.Status == nfsv4.NFS4ERR_DELAY {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return res, err
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		return res, err
	}
}

// finish decodes a COMPOUND reply record, applies its SEQUENCE result to
// the slot table and releases the slot. flags are SEQUENCE's
// sr_status_flags (zero when SEQUENCE failed).
func (c *Client) finish(s *session, g slotGrant, rec []byte) (results []nfsv4.NfsResop4, flags uint32, err error) {
	_, body, err := rpc.ParseReply(rec)
	if err != nil {
		s.slots.release(g.id, false)
		return nil, 0, err
	}
	return c.finishBody(s, g, body)
}

func (c *Client) finishBody(s *session, g slotGrant, body []byte) ([]nfsv4.NfsResop4, uint32, error) {
	status, results, seqDone, err := decodeCompound(body)
	if !seqDone {
		s.slots.release(g.id, false)
		if err == nil {
			err = &Error{Op: "SEQUENCE", Status: status}
		}
		return nil, 0, err
	}
	seq := results[0].(*nfsv4.NfsResop4_OP_SEQUENCE).Opsequence.(*nfsv4.Sequence4res_NFS4_OK).SrResok4
	s.slots.release(g.id, true)
	s.slots.setTarget(seq.SrTargetHighestSlotid)
	if err != nil {
		return nil, seq.SrStatusFlags, err
	}
	results = results[1:]
	if status != nfsv4.NFS4_OK {
		op := "COMPOUND"
		if len(results) > 0 {
			op = opName(results[len(results)-1].GetResop())
		}
		return results, seq.SrStatusFlags, &Error{Op: op, Status: status}
	}
	return results, seq.SrStatusFlags, nil
}

// decodeCompound reads COMPOUND4res op by op so that a reply whose later
// results are garbled still tells whether its SEQUENCE succeeded (which the
// slot table must know). seqDone is true when results[0] is a successful
// SEQUENCE.
func decodeCompound(body []byte) (status nfsv4.Nfsstat4, results []nfsv4.NfsResop4, seqDone bool, err error) {
	r := bytes.NewReader(body)
	var s int32
	if s, _, err = runtime.ReadInt(r); err != nil {
		return 0, nil, false, fmt.Errorf("%w: compound status: %v", rpc.ErrGarbledReply, err)
	}
	status = nfsv4.Nfsstat4(s)
	if _, _, err = runtime.ReadUTF8String(r, 1024); err != nil {
		return status, nil, false, fmt.Errorf("%w: compound tag: %v", rpc.ErrGarbledReply, err)
	}
	n, _, err := runtime.ReadUnsignedInt(r)
	if err != nil {
		return status, nil, false, fmt.Errorf("%w: compound result count: %v", rpc.ErrGarbledReply, err)
	}
	// Each result takes at least 8 bytes; refuse counts the body cannot hold.
	if int64(n)*8 > int64(r.Len()) {
		return status, nil, false, fmt.Errorf("%w: %d results in %d bytes", rpc.ErrGarbledReply, n, r.Len())
	}
	results = make([]nfsv4.NfsResop4, 0, n)
	for i := uint32(0); i < n; i++ {
		op, err := readResult(r, body)
		if err != nil {
			return status, results, seqDone, fmt.Errorf("%w: result %d: %v", rpc.ErrGarbledReply, i, err)
		}
		if i == 0 {
			seq, ok := op.(*nfsv4.NfsResop4_OP_SEQUENCE)
			if !ok {
				return status, nil, false, fmt.Errorf("%w: first result is %s, not SEQUENCE", rpc.ErrGarbledReply, opName(op.GetResop()))
			}
			if _, ok := seq.Opsequence.(*nfsv4.Sequence4res_NFS4_OK); ok {
				seqDone = true
			}
		}
		results = append(results, op)
	}
	if r.Len() != 0 {
		return status, results, seqDone, fmt.Errorf("%w: %d trailing bytes", rpc.ErrGarbledReply, r.Len())
	}
	if len(results) == 0 {
		return status, nil, false, nil
	}
	return status, results, seqDone, nil
}

// plainCompound runs ops with no SEQUENCE on conn: for the few operations
// that may stand alone (EXCHANGE_ID, CREATE_SESSION, DESTROY_SESSION,
// DESTROY_CLIENTID, BIND_CONN_TO_SESSION; RFC 8881 section 2.6.3.1.1.1).
func (c *Client) plainCompound(ctx context.Context, conn *rpc.Conn, ops ...nfsv4.NfsArgop4) ([]nfsv4.NfsResop4, error) {
	a := compoundArgs{ops: ops}
	rec, err := c.prog.EncodeCall(c.xids.Next(), procComp, rpc.Root, a.args(false))
	if err != nil {
		return nil, err
	}
	body, err := conn.Call(ctx, rec)
	if err != nil {
		return nil, err
	}
	var res nfsv4.Compound4res
	if _, err := res.ReadFrom(bytes.NewReader(body)); err != nil {
		return nil, fmt.Errorf("%w: %v", rpc.ErrGarbledReply, err)
	}
	if res.Status != nfsv4.NFS4_OK {
		op := opName(ops[0].GetArgop())
		if len(res.Resarray) > 0 {
			op = opName(res.Resarray[len(res.Resarray)-1].GetResop())
		}
		return res.Resarray, &Error{Op: op, Status: res.Status}
	}
	if len(res.Resarray) != len(ops) {
		return nil, fmt.Errorf("%w: %d results for %d ops", rpc.ErrGarbledReply, len(res.Resarray), len(ops))
	}
	return res.Resarray, nil
}

// resultAt returns results[i] as type T, or a garbled-reply error if the
// server answered with something else. Every op method reads its results
// through this, so a malformed reply is an error, never a panic.
func resultAt[T nfsv4.NfsResop4](results []nfsv4.NfsResop4, i int) (T, error) {
	var zero T
	if i >= len(results) {
		return zero, fmt.Errorf("%w: %d results, want at least %d", rpc.ErrGarbledReply, len(results), i+1)
	}
	t, ok := results[i].(T)
	if !ok {
		return zero, fmt.Errorf("%w: result %d is %s", rpc.ErrGarbledReply, i, opName(results[i].GetResop()))
	}
	return t, nil
}

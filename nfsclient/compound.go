package nfsclient

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/buildbarn/go-xdr/pkg/runtime"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

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
// result (callers like LOCK read details from it). NFS4ERR_DELAY and
// NFS4ERR_GRACE are retried with backoff until ctx ends (RFC 8881 sections
// 15.1.1.3 and 8.4.2).
func (c *Client) compound(ctx context.Context, cred rpc.Cred, ops ...nfsv4.NfsArgop4) ([]nfsv4.NfsResop4, error) {
	backoff := 10 * time.Millisecond
	for {
		res, err := c.compoundOnce(ctx, cred, ops)
		if e, ok := err.(*Error); ok && (e.Status == nfsv4.NFS4ERR_DELAY || e.Status == nfsv4.NFS4ERR_GRACE) {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return res, err
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		return res, err
	}
}

func (c *Client) compoundOnce(ctx context.Context, cred rpc.Cred, ops []nfsv4.NfsArgop4) ([]nfsv4.NfsResop4, error) {
	g, err := c.slots.acquire(ctx)
	if err != nil {
		return nil, err
	}
	a := compoundArgs{ops: ops}
	a.seq.Opsequence = nfsv4.Sequence4args{
		SaSessionid:     c.sessionID,
		SaSequenceid:    g.seqid,
		SaSlotid:        g.id,
		SaHighestSlotid: g.highest,
	}
	rec, err := c.prog.EncodeCall(c.xids.Next(), procComp, cred, a.args(true))
	if err != nil {
		c.slots.release(g.id, false)
		return nil, err
	}
	c.lastSent.Store(time.Now().UnixNano())
	ch, err := c.currentConn().Send(rec)
	if err != nil {
		c.slots.release(g.id, false)
		return nil, err
	}
	select {
	case r := <-ch:
		return c.finish(g, r)
	case <-ctx.Done():
		// The request may still run on the server. Its slot stays
		// reserved until the reply (or the connection's end) arrives,
		// so the next request on the slot cannot collide with it in the
		// server's reply cache (RFC 8881 section 2.10.6.2).
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			select {
			case r := <-ch:
				_, _ = c.finish(g, r)
			case <-c.closing:
				c.slots.release(g.id, false)
			}
		}()
		return nil, ctx.Err()
	}
}

// finish decodes a COMPOUND reply, applies its SEQUENCE result to the slot
// table and releases the slot.
func (c *Client) finish(g slotGrant, r rpc.Reply) ([]nfsv4.NfsResop4, error) {
	if r.Err != nil {
		c.slots.release(g.id, false)
		return nil, r.Err
	}
	_, body, err := rpc.ParseReply(r.Record)
	if err != nil {
		c.slots.release(g.id, false)
		return nil, err
	}
	status, results, seqDone, err := decodeCompound(body)
	if !seqDone {
		c.slots.release(g.id, false)
		if err == nil {
			err = &Error{Op: "SEQUENCE", Status: status}
		}
		return nil, err
	}
	seq := results[0].(*nfsv4.NfsResop4_OP_SEQUENCE).Opsequence.(*nfsv4.Sequence4res_NFS4_OK).SrResok4
	c.slots.release(g.id, true)
	c.slots.setTarget(seq.SrTargetHighestSlotid)
	if err != nil {
		return nil, err
	}
	results = results[1:]
	if status != nfsv4.NFS4_OK {
		op := "COMPOUND"
		if len(results) > 0 {
			op = opName(results[len(results)-1].GetResop())
		}
		return results, &Error{Op: op, Status: status}
	}
	return results, nil
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
		op, _, err := nfsv4.ReadNfsResop4(r)
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

// plainCompound runs ops with no SEQUENCE: for the few operations that may
// stand alone (EXCHANGE_ID, CREATE_SESSION, DESTROY_SESSION,
// DESTROY_CLIENTID, BIND_CONN_TO_SESSION; RFC 8881 section 2.6.3.1.1.1).
func (c *Client) plainCompound(ctx context.Context, ops ...nfsv4.NfsArgop4) ([]nfsv4.NfsResop4, error) {
	a := compoundArgs{ops: ops}
	rec, err := c.prog.EncodeCall(c.xids.Next(), procComp, rpc.Root, a.args(false))
	if err != nil {
		return nil, err
	}
	body, err := c.currentConn().Call(ctx, rec)
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

var opNames = map[nfsv4.NfsOpnum4]string{
	nfsv4.OP_ACCESS: "ACCESS", nfsv4.OP_CLOSE: "CLOSE", nfsv4.OP_COMMIT: "COMMIT",
	nfsv4.OP_CREATE: "CREATE", nfsv4.OP_GETATTR: "GETATTR", nfsv4.OP_GETFH: "GETFH",
	nfsv4.OP_LINK: "LINK", nfsv4.OP_LOCK: "LOCK", nfsv4.OP_LOCKT: "LOCKT", nfsv4.OP_LOCKU: "LOCKU",
	nfsv4.OP_LOOKUP: "LOOKUP", nfsv4.OP_LOOKUPP: "LOOKUPP", nfsv4.OP_OPEN: "OPEN",
	nfsv4.OP_OPEN_DOWNGRADE: "OPEN_DOWNGRADE", nfsv4.OP_PUTFH: "PUTFH", nfsv4.OP_PUTROOTFH: "PUTROOTFH",
	nfsv4.OP_READ: "READ", nfsv4.OP_READDIR: "READDIR", nfsv4.OP_READLINK: "READLINK",
	nfsv4.OP_REMOVE: "REMOVE", nfsv4.OP_RENAME: "RENAME", nfsv4.OP_RESTOREFH: "RESTOREFH",
	nfsv4.OP_SAVEFH: "SAVEFH", nfsv4.OP_SETATTR: "SETATTR", nfsv4.OP_WRITE: "WRITE",
	nfsv4.OP_SEQUENCE: "SEQUENCE", nfsv4.OP_EXCHANGE_ID: "EXCHANGE_ID",
	nfsv4.OP_CREATE_SESSION: "CREATE_SESSION", nfsv4.OP_DESTROY_SESSION: "DESTROY_SESSION",
	nfsv4.OP_DESTROY_CLIENTID: "DESTROY_CLIENTID", nfsv4.OP_RECLAIM_COMPLETE: "RECLAIM_COMPLETE",
	nfsv4.OP_BIND_CONN_TO_SESSION: "BIND_CONN_TO_SESSION", nfsv4.OP_FREE_STATEID: "FREE_STATEID",
	nfsv4.OP_TEST_STATEID: "TEST_STATEID", nfsv4.OP_RELEASE_LOCKOWNER: "RELEASE_LOCKOWNER",
}

func opName(op nfsv4.NfsOpnum4) string {
	if s, ok := opNames[op]; ok {
		return s
	}
	return fmt.Sprintf("OP_%d", op)
}

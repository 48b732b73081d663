package nfsclient_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/buildbarn/go-xdr/pkg/protocols/rpcv2"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// Bare SEQUENCEs are invisible to Client.OpCounts (it counts COMPOUNDs by
// the first operation after SEQUENCE), and DESTROY_SESSION and
// DESTROY_CLIENTID do not go through the counted path; these tests read the
// calls off the wire instead.

// TestLeaseRenewedWhileIdle leaves an open file untouched for 2.5 leases:
// the client must renew the lease with bare SEQUENCEs, never letting a
// lease go by without a call, so the open stateid still works afterwards.
func TestLeaseRenewedWhileIdle(t *testing.T) {
	const leaseSeconds = 4 // short, to keep the test short; ganesha allows 1-120
	lease := leaseSeconds * time.Second
	export := t.TempDir()
	data := []byte("still open after an idle while")
	if err := os.WriteFile(filepath.Join(export, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir, o.LeaseSeconds = export, leaseSeconds })
	rd := &recordingDialer{base: tlsDialer(t, tgt)}
	c := dial(t, rd.dial)
	if c.Lease() != lease {
		t.Fatalf("client sees a lease of %v, want the target's %v", c.Lease(), lease)
	}
	ctx := context.Background()
	dir, _, err := c.LookupPath(ctx, root, "/")
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: dir, Name: "f", Access: nfsclient.ShareRead})
	if err != nil {
		t.Fatalf("OPEN: %v", err)
	}

	idleFrom := time.Now()
	time.Sleep(lease * 5 / 2)
	idleTo := time.Now()

	buf := make([]byte, 100)
	n, _, err := c.Read(ctx, root, o.FH, o.Stateid, 0, buf)
	if err != nil || !bytes.Equal(buf[:n], data) {
		t.Fatalf("READ with the open stateid after %v idle = %q, %v", idleTo.Sub(idleFrom), buf[:n], err)
	}

	calls := decodeWire(t, rd.only(t))
	var renewals int
	var prev time.Time
	for _, cl := range calls {
		if !prev.IsZero() && cl.at.Sub(prev) >= lease {
			t.Errorf("no call for %v (%v to %v): the lease of %v lapsed", cl.at.Sub(prev), prev, cl.at, lease)
		}
		prev = cl.at
		if cl.at.Before(idleFrom) || cl.at.After(idleTo) {
			continue
		}
		if len(cl.ops) != 1 || cl.ops[0] != nfsv4.OP_SEQUENCE {
			t.Errorf("while idle the client sent %v, want bare SEQUENCEs only", cl.ops)
			continue
		}
		if !cl.answered || cl.status != nfsv4.NFS4_OK {
			t.Errorf("lease renewal at %v: answered %v, status %v", cl.at, cl.answered, cl.status)
		}
		renewals++
	}
	if renewals < 2 {
		t.Fatalf("%d lease renewals in %v idle, want one at least every lease", renewals, idleTo.Sub(idleFrom))
	}
	t.Logf("%d bare SEQUENCE renewals in %v idle with a %v lease", renewals, idleTo.Sub(idleFrom), lease)
	if err := c.CloseState(ctx, root, o.FH, o.Stateid); err != nil {
		t.Fatalf("CLOSE: %v", err)
	}
}

// TestCloseDestroysSession checks that Close ends the session and the
// client id on the server: both DESTROY operations go out and succeed,
// and the server then refuses the old session id.
func TestCloseDestroysSession(t *testing.T) {
	tgt := testtarget.Start(t)
	rd := &recordingDialer{base: tlsDialer(t, tgt)}
	c := dial(t, rd.dial)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}

	var sessionID *[16]byte
	var destroyedClient bool
	for _, cl := range decodeWire(t, rd.only(t)) {
		for _, op := range cl.args.Argarray {
			switch a := op.(type) {
			case *nfsv4.NfsArgop4_OP_DESTROY_SESSION:
				if !cl.answered || cl.status != nfsv4.NFS4_OK {
					t.Errorf("DESTROY_SESSION: answered %v, status %v", cl.answered, cl.status)
				}
				sessionID = &a.OpdestroySession.DsaSessionid
			case *nfsv4.NfsArgop4_OP_DESTROY_CLIENTID:
				if !cl.answered || cl.status != nfsv4.NFS4_OK {
					t.Errorf("DESTROY_CLIENTID: answered %v, status %v", cl.answered, cl.status)
				}
				destroyedClient = true
			}
		}
	}
	if sessionID == nil || !destroyedClient {
		t.Fatalf("Close sent DESTROY_SESSION: %v, DESTROY_CLIENTID: %v; want both", sessionID != nil, destroyedClient)
	}

	// The server's own word: a SEQUENCE on the old session id, on a new
	// connection, is refused as an unknown session.
	nc, err := tlsDialer(t, tgt)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn := rpc.NewConn(nc, rpc.Options{})
	defer conn.Close()
	args := &nfsv4.Compound4args{Minorversion: 1, Argarray: []nfsv4.NfsArgop4{&nfsv4.NfsArgop4_OP_SEQUENCE{
		Opsequence: nfsv4.Sequence4args{SaSessionid: *sessionID, SaSequenceid: 1000},
	}}}
	rec, err := rpc.Program{Prog: 100003, Vers: 4, Machine: "efs-fuse-test"}.EncodeCall(1, 1, rpc.Root, args)
	if err != nil {
		t.Fatal(err)
	}
	results, err := conn.Call(ctx, rec)
	if err != nil {
		t.Fatalf("SEQUENCE on the destroyed session: %v", err)
	}
	var res nfsv4.Compound4res
	if _, err := res.ReadFrom(bytes.NewReader(results)); err != nil {
		t.Fatalf("decode the reply to SEQUENCE on the destroyed session: %v", err)
	}
	if res.Status != nfsv4.NFS4ERR_BADSESSION {
		t.Fatalf("SEQUENCE on the destroyed session: %v, want NFS4ERR_BADSESSION", res.Status)
	}
}

// wireCall is one call read off the wire, with its reply's status.
type wireCall struct {
	at       time.Time
	ops      []nfsv4.NfsOpnum4 // nil for NULL
	args     nfsv4.Compound4args
	answered bool
	status   nfsv4.Nfsstat4
}

// decodeWire decodes the COMPOUND calls and replies recorded on w, in the
// order they were sent.
func decodeWire(t *testing.T, w *wireLog) []*wireCall {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var calls []*wireCall
	byXID := map[uint32]*wireCall{}
	for _, rec := range w.calls {
		r := bytes.NewReader(rec.data)
		var msg rpcv2.RpcMsg
		if _, err := msg.ReadFrom(r); err != nil {
			t.Fatalf("decode a call the client sent: %v", err)
		}
		call, ok := msg.Body.(*rpcv2.RpcMsgBody_CALL)
		if !ok {
			t.Fatalf("the client sent a record that is not a call: %x", rec.data)
		}
		cl := &wireCall{at: rec.at}
		if call.Cbody.Proc == 1 {
			if _, err := cl.args.ReadFrom(r); err != nil {
				t.Fatalf("decode a COMPOUND the client sent: %v", err)
			}
			for _, op := range cl.args.Argarray {
				cl.ops = append(cl.ops, op.GetArgop())
			}
		}
		calls = append(calls, cl)
		byXID[msg.Xid] = cl
	}
	for _, rec := range w.replies {
		xid, results, err := rpc.ParseReply(rec.data)
		if err != nil {
			t.Fatalf("decode a reply: %v", err)
		}
		cl := byXID[xid]
		if cl == nil || cl.ops == nil {
			continue // NULL, or a reply to nothing we sent (the client's tests cover that)
		}
		var res nfsv4.Compound4res
		if _, err := res.ReadFrom(bytes.NewReader(results)); err != nil {
			t.Fatalf("decode a COMPOUND reply: %v", err)
		}
		cl.answered, cl.status = true, res.Status
	}
	return calls
}

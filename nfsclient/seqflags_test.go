package nfsclient

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/buildbarn/go-xdr/pkg/protocols/rpcv2"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fakeServer is a scripted NFSv4.1 server with just the state recovery is
// about: one client id, sessions, open stateids, a restart flag. Tests
// change that state between calls to play a restart, a lost session or a
// forgotten client id, and read back what the client sent.
type fakeServer struct {
	mu          sync.Mutex
	slots       uint32 // fore channel slots granted
	clientID    uint64
	confirmed   bool   // a session was created for clientID
	owner       string // server_owner major id
	sessions    map[[16]byte]bool
	nextSess    byte
	opens       map[[12]byte]bool
	nextOther   uint32
	reclaiming  bool              // restarted: SEQUENCE says RESTART_RECLAIM_NEEDED until RECLAIM_COMPLETE
	flags       uint32            // further sr_status_flags on every SEQUENCE
	staleOpens  bool              // every OPEN gets STALE_CLIENTID
	expired     bool              // our lease ran out: SEQUENCE gets EXPIRED until a new session
	putfhFaults int               // this many PUTFHs get SERVERFAULT (ganesha, on an object being removed)
	refuseBinds bool              // BIND_CONN_TO_SESSION gets NFS4ERR_NOTSUPP (one connection per session)
	revoked     map[[12]byte]bool // open stateids revoked: TEST_STATEID says ADMIN_REVOKED until freed
	counts      map[string]int
	seqs        []fakeSeq
	// hold, if set, may return a channel for a request: its reply (worked
	// out on arrival) is sent only once the channel is closed.
	hold func(ops []nfsv4.NfsArgop4) <-chan struct{}
}

// fakeSeq is one SEQUENCE the server saw, with the first op after it.
type fakeSeq struct {
	slot, seqid uint32
	op          string
}

func newFakeServer() *fakeServer {
	return &fakeServer{slots: 8, clientID: 100, owner: "fake-1", sessions: map[[16]byte]bool{}, opens: map[[12]byte]bool{}, counts: map[string]int{}}
}

// dialFake dials a Client to f; cfg.Dial is set here. It is closed in
// Cleanup, after which every responder goroutine has ended.
func dialFake(t *testing.T, f *fakeServer, cfg Config) *Client {
	t.Helper()
	var wg sync.WaitGroup
	cfg.Dial = func(context.Context) (net.Conn, error) {
		cli, srv := net.Pipe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.serve(srv)
		}()
		return cli, nil
	}
	cfg.OwnerID = "fake-" + t.Name()
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = time.Hour // no pings: tests count requests
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(ctx)
		wg.Wait()
	})
	return c
}

func (f *fakeServer) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[name]
}

func (f *fakeServer) serve(nc net.Conn) {
	defer nc.Close()
	var wmu sync.Mutex
	var held sync.WaitGroup
	defer held.Wait()
	rr := rpc.NewRecordReader(nc, 4<<20)
	for {
		rec, err := rr.ReadRecord()
		if err != nil {
			return
		}
		reply, ops, err := f.answer(rec)
		if err != nil {
			return
		}
		send := func() {
			wmu.Lock()
			defer wmu.Unlock()
			_ = rpc.WriteRecord(nc, reply, len(reply))
		}
		f.mu.Lock()
		hold := f.hold
		f.mu.Unlock()
		var ch <-chan struct{}
		if hold != nil && ops != nil {
			ch = hold(ops)
		}
		if ch == nil {
			send()
			continue
		}
		held.Add(1)
		go func() {
			defer held.Done()
			<-ch
			send()
		}()
	}
}

func (f *fakeServer) answer(rec []byte) ([]byte, []nfsv4.NfsArgop4, error) {
	r := bytes.NewReader(rec)
	var call rpcv2.RpcMsg
	if _, err := call.ReadFrom(r); err != nil {
		return nil, nil, err
	}
	cb, ok := call.Body.(*rpcv2.RpcMsgBody_CALL)
	if !ok {
		return nil, nil, errors.New("not a call")
	}
	var out bytes.Buffer
	msg := rpcv2.RpcMsg{Xid: call.Xid, Body: &rpcv2.RpcMsgBody_REPLY{Rbody: &rpcv2.ReplyBody_MSG_ACCEPTED{
		Areply: rpcv2.AcceptedReply{Verf: rpcv2.OpaqueAuth{Flavor: rpcv2.AUTH_NONE}, ReplyData: &rpcv2.AcceptedReplyData_SUCCESS{}},
	}}}
	_, _ = msg.WriteTo(&out)
	if cb.Cbody.Proc == procNull {
		return out.Bytes(), nil, nil
	}
	var args nfsv4.Compound4args
	if _, err := args.ReadFrom(r); err != nil {
		return nil, nil, err
	}
	res := nfsv4.Compound4res{Status: nfsv4.NFS4_OK}
	f.mu.Lock()
	for i, op := range args.Argarray {
		var next string
		if i+1 < len(args.Argarray) {
			next = opName(args.Argarray[i+1].GetArgop())
		}
		r, st := f.result(op, next)
		res.Resarray = append(res.Resarray, r)
		if st != nfsv4.NFS4_OK {
			res.Status = st
			break
		}
	}
	f.mu.Unlock()
	_, _ = res.WriteTo(&out)
	return out.Bytes(), args.Argarray, nil
}

// result runs one op under f.mu; next names the op after it (for SEQUENCE).
func (f *fakeServer) result(op nfsv4.NfsArgop4, next string) (nfsv4.NfsResop4, nfsv4.Nfsstat4) {
	name := opName(op.GetArgop())
	f.counts[name]++
	switch a := op.(type) {
	case *nfsv4.NfsArgop4_OP_EXCHANGE_ID:
		var flags uint32
		if f.confirmed {
			flags = nfsv4.EXCHGID4_FLAG_CONFIRMED_R
		}
		return &nfsv4.NfsResop4_OP_EXCHANGE_ID{OpexchangeId: &nfsv4.ExchangeId4res_NFS4_OK{EirResok4: nfsv4.ExchangeId4resok{
			EirClientid: f.clientID, EirSequenceid: 1, EirFlags: flags, EirStateProtect: &nfsv4.StateProtect4R_SP4_NONE{},
			EirServerOwner: nfsv4.ServerOwner4{SoMajorId: []byte(f.owner)}, EirServerScope: []byte("fake-scope"),
		}}}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_CREATE_SESSION:
		if a.OpcreateSession.CsaClientid != f.clientID {
			return &nfsv4.NfsResop4_OP_CREATE_SESSION{OpcreateSession: &nfsv4.CreateSession4res_default{CsrStatus: nfsv4.NFS4ERR_STALE_CLIENTID}}, nfsv4.NFS4ERR_STALE_CLIENTID
		}
		f.confirmed = true
		f.expired = false
		f.nextSess++
		id := [16]byte{f.nextSess}
		f.sessions[id] = true
		fore := a.OpcreateSession.CsaForeChanAttrs
		fore.CaMaxrequests = min(fore.CaMaxrequests, f.slots)
		return &nfsv4.NfsResop4_OP_CREATE_SESSION{OpcreateSession: &nfsv4.CreateSession4res_NFS4_OK{CsrResok4: nfsv4.CreateSession4resok{
			CsrSessionid: id, CsrSequence: a.OpcreateSession.CsaSequence,
			CsrForeChanAttrs: fore, CsrBackChanAttrs: a.OpcreateSession.CsaBackChanAttrs,
		}}}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_BIND_CONN_TO_SESSION:
		id := a.OpbindConnToSession.BctsaSessid
		if !f.sessions[id] {
			return &nfsv4.NfsResop4_OP_BIND_CONN_TO_SESSION{OpbindConnToSession: &nfsv4.BindConnToSession4res_default{BctsrStatus: nfsv4.NFS4ERR_BADSESSION}}, nfsv4.NFS4ERR_BADSESSION
		}
		if f.refuseBinds {
			f.counts["BIND_CONN_TO_SESSION refused"]++
			return &nfsv4.NfsResop4_OP_BIND_CONN_TO_SESSION{OpbindConnToSession: &nfsv4.BindConnToSession4res_default{BctsrStatus: nfsv4.NFS4ERR_NOTSUPP}}, nfsv4.NFS4ERR_NOTSUPP
		}
		return &nfsv4.NfsResop4_OP_BIND_CONN_TO_SESSION{OpbindConnToSession: &nfsv4.BindConnToSession4res_NFS4_OK{BctsrResok4: nfsv4.BindConnToSession4resok{
			BctsrSessid: id, BctsrDir: nfsv4.CDFS4_FORE,
		}}}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_SEQUENCE:
		q := a.Opsequence
		if !f.sessions[q.SaSessionid] {
			return &nfsv4.NfsResop4_OP_SEQUENCE{Opsequence: &nfsv4.Sequence4res_default{SrStatus: nfsv4.NFS4ERR_BADSESSION}}, nfsv4.NFS4ERR_BADSESSION
		}
		if f.expired {
			return &nfsv4.NfsResop4_OP_SEQUENCE{Opsequence: &nfsv4.Sequence4res_default{SrStatus: nfsv4.NFS4ERR_EXPIRED}}, nfsv4.NFS4ERR_EXPIRED
		}
		f.seqs = append(f.seqs, fakeSeq{slot: q.SaSlotid, seqid: q.SaSequenceid, op: next})
		flags := f.flags
		if len(f.revoked) > 0 {
			flags |= nfsv4.SEQ4_STATUS_ADMIN_STATE_REVOKED // until freed
		}
		if f.reclaiming {
			flags |= nfsv4.SEQ4_STATUS_RESTART_RECLAIM_NEEDED
		}
		return &nfsv4.NfsResop4_OP_SEQUENCE{Opsequence: &nfsv4.Sequence4res_NFS4_OK{SrResok4: nfsv4.Sequence4resok{
			SrSessionid: q.SaSessionid, SrSequenceid: q.SaSequenceid, SrSlotid: q.SaSlotid,
			SrHighestSlotid: f.slots - 1, SrTargetHighestSlotid: f.slots - 1, SrStatusFlags: flags,
		}}}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_RECLAIM_COMPLETE:
		f.reclaiming = false
		return &nfsv4.NfsResop4_OP_RECLAIM_COMPLETE{}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_PUTROOTFH:
		return &nfsv4.NfsResop4_OP_PUTROOTFH{}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_PUTFH:
		if f.putfhFaults > 0 {
			f.putfhFaults--
			return &nfsv4.NfsResop4_OP_PUTFH{Opputfh: nfsv4.Putfh4res{Status: nfsv4.NFS4ERR_SERVERFAULT}}, nfsv4.NFS4ERR_SERVERFAULT
		}
		return &nfsv4.NfsResop4_OP_PUTFH{}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_GETFH:
		return &nfsv4.NfsResop4_OP_GETFH{Opgetfh: &nfsv4.Getfh4res_NFS4_OK{Resok4: nfsv4.Getfh4resok{Object: benchFH}}}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_GETATTR:
		return &nfsv4.NfsResop4_OP_GETATTR{Opgetattr: &nfsv4.Getattr4res_NFS4_OK{}}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_OPEN:
		return f.open(&a.Opopen)
	case *nfsv4.NfsArgop4_OP_WRITE:
		if !f.opens[a.Opwrite.Stateid.Other] {
			return &nfsv4.NfsResop4_OP_WRITE{Opwrite: &nfsv4.Write4res_default{Status: nfsv4.NFS4ERR_BAD_STATEID}}, nfsv4.NFS4ERR_BAD_STATEID
		}
		return &nfsv4.NfsResop4_OP_WRITE{Opwrite: &nfsv4.Write4res_NFS4_OK{Resok4: nfsv4.Write4resok{
			Count: uint32(len(a.Opwrite.Data)), Committed: FileSync,
		}}}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_CLOSE:
		sid := a.Opclose.OpenStateid
		if !f.opens[sid.Other] {
			return &nfsv4.NfsResop4_OP_CLOSE{Opclose: &nfsv4.Close4res_default{Status: nfsv4.NFS4ERR_BAD_STATEID}}, nfsv4.NFS4ERR_BAD_STATEID
		}
		delete(f.opens, sid.Other)
		return &nfsv4.NfsResop4_OP_CLOSE{Opclose: &nfsv4.Close4res_NFS4_OK{OpenStateid: sid}}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_TEST_STATEID:
		var codes []nfsv4.Nfsstat4
		for _, sid := range a.OptestStateid.TsStateids {
			switch {
			case f.revoked[sid.Other]:
				codes = append(codes, nfsv4.NFS4ERR_ADMIN_REVOKED)
			case f.opens[sid.Other]:
				codes = append(codes, nfsv4.NFS4_OK)
			default:
				codes = append(codes, nfsv4.NFS4ERR_BAD_STATEID)
			}
		}
		return &nfsv4.NfsResop4_OP_TEST_STATEID{OptestStateid: &nfsv4.TestStateid4res_NFS4_OK{TsrResok4: nfsv4.TestStateid4resok{TsrStatusCodes: codes}}}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_FREE_STATEID:
		sid := a.OpfreeStateid.FsaStateid
		if !f.revoked[sid.Other] {
			return &nfsv4.NfsResop4_OP_FREE_STATEID{OpfreeStateid: nfsv4.FreeStateid4res{FsrStatus: nfsv4.NFS4ERR_BAD_STATEID}}, nfsv4.NFS4ERR_BAD_STATEID
		}
		delete(f.revoked, sid.Other)
		delete(f.opens, sid.Other)
		return &nfsv4.NfsResop4_OP_FREE_STATEID{OpfreeStateid: nfsv4.FreeStateid4res{FsrStatus: nfsv4.NFS4_OK}}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_DESTROY_SESSION:
		delete(f.sessions, a.OpdestroySession.DsaSessionid)
		return &nfsv4.NfsResop4_OP_DESTROY_SESSION{}, nfsv4.NFS4_OK
	case *nfsv4.NfsArgop4_OP_DESTROY_CLIENTID:
		return &nfsv4.NfsResop4_OP_DESTROY_CLIENTID{}, nfsv4.NFS4_OK
	}
	return &nfsv4.NfsResop4_OP_ILLEGAL{Opillegal: nfsv4.Illegal4res{Status: nfsv4.NFS4ERR_OP_ILLEGAL}}, nfsv4.NFS4ERR_OP_ILLEGAL
}

// open grants an open stateid; CLAIM_PREVIOUS only while reclaiming, and
// nothing else then (the grace period).
func (f *fakeServer) open(a *nfsv4.Open4args) (nfsv4.NfsResop4, nfsv4.Nfsstat4) {
	fail := func(st nfsv4.Nfsstat4) (nfsv4.NfsResop4, nfsv4.Nfsstat4) {
		return &nfsv4.NfsResop4_OP_OPEN{Opopen: &nfsv4.Open4res_default{Status: st}}, st
	}
	_, previous := a.Claim.(*nfsv4.OpenClaim4_CLAIM_PREVIOUS)
	switch {
	case f.staleOpens || a.Owner.Clientid != f.clientID:
		return fail(nfsv4.NFS4ERR_STALE_CLIENTID)
	case previous && !f.reclaiming:
		return fail(nfsv4.NFS4ERR_NO_GRACE)
	case !previous && f.reclaiming:
		return fail(nfsv4.NFS4ERR_GRACE)
	}
	if previous {
		f.counts["OPEN/CLAIM_PREVIOUS"]++
	}
	f.nextOther++
	var sid nfsv4.Stateid4
	sid.Seqid = 1
	binary.BigEndian.PutUint32(sid.Other[:], f.nextOther)
	f.opens[sid.Other] = true
	return &nfsv4.NfsResop4_OP_OPEN{Opopen: &nfsv4.Open4res_NFS4_OK{Resok4: nfsv4.Open4resok{
		Stateid: sid, Delegation: &nfsv4.OpenDelegation4_OPEN_DELEGATE_NONE{},
	}}}, nfsv4.NFS4_OK
}

// fakeWithOpenFile dials a client to a new scripted server, with o's
// Reclaim hook, and opens one file through it: where every recovery test
// starts.
func fakeWithOpenFile(t *testing.T) (*fakeServer, *openReclaimer, *Client) {
	t.Helper()
	f, o := newFakeServer(), &openReclaimer{}
	c := dialFake(t, f, Config{Reclaim: o.reclaim})
	o.openFile(t, c)
	return f, o, c
}

// openReclaimer opens one file through c and returns it with a Reclaim
// hook that re-opens it (as fusefs does) and counts its calls.
type openReclaimer struct {
	open  OpenResult
	calls atomic.Int32
}

func (o *openReclaimer) reclaim(ctx context.Context, r *Reclaimer) error {
	o.calls.Add(1)
	_, err := r.ReclaimOpen(ctx, rpc.Root, o.open.FH, OpenOwner(rpc.Root), ShareBoth, o.open.Stateid)
	return err
}

func (o *openReclaimer) openFile(t *testing.T, c *Client) {
	t.Helper()
	res, err := c.Open(context.Background(), rpc.Root, OpenArgs{Dir: benchFH, Name: "f", Access: ShareBoth, Create: Unchecked})
	if err != nil {
		t.Fatalf("OPEN: %v", err)
	}
	o.open = res
}

// writeOld writes through the open stateid taken before any recovery: it
// works only if the server still has that state, or the client translates
// it to the reclaimed one.
func (o *openReclaimer) writeOld(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Write(ctx, rpc.Root, o.open.FH, o.open.Stateid, 0, []byte("after"), FileSync); err != nil {
		t.Fatalf("WRITE with the open stateid from before: %v", err)
	}
}

// TestRestartReclaimNeeded: the server restarts but keeps the session,
// saying so with SEQ4_STATUS_RESTART_RECLAIM_NEEDED on every reply until
// RECLAIM_COMPLETE. Several replies carrying it arrive together; the client
// must run one full recovery (EXCHANGE_ID, CREATE_SESSION, reclaim of the
// open with CLAIM_PREVIOUS, RECLAIM_COMPLETE), after which the old open
// stateid works again.
func TestRestartReclaimNeeded(t *testing.T) {
	f, o, c := fakeWithOpenFile(t)
	o.writeOld(t, c)

	// The restart: open state gone, session kept. Hold the replies of
	// the next four GETATTRs until all four arrived, so that four
	// replies with the flag reach the client at once.
	const n = 4
	release := make(chan struct{})
	var arrived atomic.Int32
	f.mu.Lock()
	clear(f.opens)
	f.reclaiming = true
	f.hold = func(ops []nfsv4.NfsArgop4) <-chan struct{} {
		if len(ops) < 3 || opName(ops[2].GetArgop()) != "GETATTR" {
			return nil
		}
		if arrived.Add(1) == n {
			close(release)
		}
		return release
	}
	f.mu.Unlock()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := c.Getattr(ctx, rpc.Root, benchFH); err != nil {
				t.Errorf("GETATTR across the restart: %v", err)
			}
		}()
	}
	wg.Wait()
	o.writeOld(t, c)
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}

	if got := o.calls.Load(); got != 1 {
		t.Errorf("Reclaim hook ran %d times, want 1", got)
	}
	if got := c.Stats().Recoveries; got != 1 {
		t.Errorf("%d recoveries, want 1", got)
	}
	for op, want := range map[string]int{"EXCHANGE_ID": 2, "CREATE_SESSION": 2, "RECLAIM_COMPLETE": 2, "OPEN/CLAIM_PREVIOUS": 1} {
		if got := f.count(op); got != want {
			t.Errorf("server saw %d %s, want %d", got, op, want)
		}
	}
}

// TestServerOwnerChange: after a lost session, EXCHANGE_ID hands back our
// old client id as confirmed, but from a server with another server_owner:
// a different instance, whose "confirmed" says nothing about our opens.
// The client must reclaim rather than assume its state is intact.
func TestServerOwnerChange(t *testing.T) {
	f, o, c := fakeWithOpenFile(t)

	f.mu.Lock()
	clear(f.sessions)
	clear(f.opens)
	f.owner = "fake-2"
	f.reclaiming = true
	f.mu.Unlock()
	o.writeOld(t, c)
	if got := o.calls.Load(); got != 1 {
		t.Errorf("Reclaim hook ran %d times, want 1", got)
	}
	if got := f.count("OPEN/CLAIM_PREVIOUS"); got != 1 {
		t.Errorf("server saw %d reclaim OPENs, want 1", got)
	}
}

// TestRevokedFlagsLogged: a revocation flag repeated on every reply is
// logged once, with its name, shows in Stats, and starts no recovery (the
// affected stateids fail on their own).
func TestRevokedFlagsLogged(t *testing.T) {
	f := newFakeServer()
	core, logs := observer.New(zap.WarnLevel)
	c := dialFake(t, f, Config{Logger: zap.New(core)})
	f.mu.Lock()
	f.flags = nfsv4.SEQ4_STATUS_ADMIN_STATE_REVOKED | nfsv4.SEQ4_STATUS_CB_PATH_DOWN
	f.mu.Unlock()
	for range 5 {
		if err := c.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	entries := logs.FilterMessageSnippet("revoked").All()
	if len(entries) != 1 {
		t.Fatalf("%d log lines about revoked state for 5 flagged replies, want 1", len(entries))
	}
	if got := entries[0].ContextMap()["flags"]; got != "ADMIN_STATE_REVOKED" {
		t.Errorf("logged flags %q, want ADMIN_STATE_REVOKED", got)
	}
	st := c.Stats()
	if st.Revoked != "ADMIN_STATE_REVOKED" || st.Recoveries != 0 {
		t.Errorf("stats %+v, want Revoked ADMIN_STATE_REVOKED and no recovery", st)
	}
	// efs-fuse status shows the last error.
	if !strings.Contains(st.LastError, "server revoked state (ADMIN_STATE_REVOKED)") {
		t.Errorf("last error %q does not name the revocation", st.LastError)
	}
	if got := f.count("EXCHANGE_ID"); got != 1 {
		t.Errorf("server saw %d EXCHANGE_ID, want 1 (no recovery)", got)
	}
}

// TestStateLostKeepingSession: the server lost our opens but kept the
// session, and says so in a way that is not a restart flag. The request
// that finds out must not fail (a hard mount shows no error): one
// recovery reopens the file (no grace period: CLAIM_FH), the request is
// sent again, and the open stateid from before works again.
func TestStateLostKeepingSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name    string
		lose    func(f *fakeServer)
		request func(c *Client) error
	}{{
		// The server forgot our client id: SEQUENCE passes (no
		// flag), OPEN says STALE_CLIENTID.
		name: "StaleClientIDOnOp",
		lose: func(f *fakeServer) { f.clientID, f.confirmed = 200, false },
		request: func(c *Client) error {
			_, err := c.Open(ctx, rpc.Root, OpenArgs{Dir: benchFH, Name: "g", Access: ShareBoth, Create: Unchecked})
			return err
		},
	}, {
		// The server was unreachable past our lease: it keeps the
		// client id (EXCHANGE_ID still says confirmed, which must
		// not pass for intact state) and answers SEQUENCE with
		// NFS4ERR_EXPIRED.
		name: "LeaseExpired",
		lose: func(f *fakeServer) { f.expired = true },
		request: func(c *Client) error {
			_, err := c.Getattr(ctx, rpc.Root, benchFH)
			return err
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f, o, c := fakeWithOpenFile(t)

			f.mu.Lock()
			tc.lose(f)
			clear(f.opens)
			f.mu.Unlock()
			if err := tc.request(c); err != nil {
				t.Fatalf("request after the server lost our state: %v", err)
			}
			o.writeOld(t, c)
			if got := c.Stats().Recoveries; got != 1 {
				t.Errorf("%d recoveries, want 1", got)
			}
			if got := o.calls.Load(); got != 1 {
				t.Errorf("Reclaim hook ran %d times, want 1", got)
			}
		})
	}
}

// TestStaleClientIDBounded: a server that answers STALE_CLIENTID to every
// OPEN, whatever the client id, fails the OPEN after a few recoveries
// instead of recovering forever.
func TestStaleClientIDBounded(t *testing.T) {
	f := newFakeServer()
	c := dialFake(t, f, Config{})
	f.mu.Lock()
	f.staleOpens = true
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Open(ctx, rpc.Root, OpenArgs{Dir: benchFH, Name: "g", Access: ShareBoth, Create: Unchecked})
	var nerr *Error
	if !errors.As(err, &nerr) || nerr.Status != nfsv4.NFS4ERR_STALE_CLIENTID || errors.Is(err, errStateRecovery) {
		t.Fatalf("OPEN = %v, want the op's NFS4ERR_STALE_CLIENTID", err)
	}
	// Each of the 1+maxStateRecoveries tries started one recovery.
	if got := f.count("OPEN"); got != maxStateRecoveries+1 {
		t.Errorf("server saw %d OPENs, want %d", got, maxStateRecoveries+1)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping after the failed OPEN: %v", err)
	}
	if got := c.Stats().Recoveries; got != maxStateRecoveries+1 {
		t.Errorf("%d recoveries, want %d", got, maxStateRecoveries+1)
	}
}

func TestSeqFlagString(t *testing.T) {
	got := seqFlagString(nfsv4.SEQ4_STATUS_LEASE_MOVED | nfsv4.SEQ4_STATUS_EXPIRED_ALL_STATE_REVOKED | nfsv4.SEQ4_STATUS_CB_PATH_DOWN)
	if want := "EXPIRED_ALL_STATE_REVOKED|LEASE_MOVED"; got != want {
		t.Fatalf("seqFlagString = %q, want %q", got, want)
	}
	if s := seqFlagString(0); s != "" {
		t.Fatalf("no flags named %q", s)
	}
}

// TestPutfhServerFaultResent: a PUTFH answered with SERVERFAULT (nfs-ganesha
// does that for an object being removed at that moment) is sent again, at
// most twice; nothing after a failed PUTFH ran, so that is safe for any
// request. posixtest's OpenSymlinkRace saw EREMOTEIO from it.
func TestPutfhServerFaultResent(t *testing.T) {
	const resends = 2 // maxPutfhFaults
	f := newFakeServer()
	c := dialFake(t, f, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.mu.Lock()
	f.putfhFaults = resends
	f.mu.Unlock()
	if _, err := c.Getattr(ctx, rpc.Root, benchFH); err != nil {
		t.Fatalf("GETATTR after %d PUTFH faults: %v", resends, err)
	}
	if got := f.count("PUTFH"); got != resends+1 {
		t.Errorf("server saw %d PUTFHs, want %d", got, resends+1)
	}
	f.mu.Lock()
	f.putfhFaults = resends + 1
	f.mu.Unlock()
	_, err := c.Getattr(ctx, rpc.Root, benchFH)
	var nerr *Error
	if !errors.As(err, &nerr) || nerr.Status != nfsv4.NFS4ERR_SERVERFAULT {
		t.Fatalf("GETATTR after %d faults = %v, want NFS4ERR_SERVERFAULT", resends+1, err)
	}
}

// TestRevokedStateChecked: revoked state reported in SEQUENCE calls
// Config.Revoked (once, however many replies carry the flag within
// revokedCheckEvery); TestStateids then names the revoked stateid among
// valid and unknown ones, and once it is freed the server stops flagging.
func TestRevokedStateChecked(t *testing.T) {
	ctx := context.Background()
	f := newFakeServer()
	var calls atomic.Int32
	var c *Client
	ready := make(chan struct{})
	results := make(chan []error, 1)
	c = dialFake(t, f, Config{Revoked: func(ctx context.Context) {
		<-ready
		calls.Add(1)
		var ids []Stateid
		f.mu.Lock()
		for other := range f.opens {
			ids = append(ids, Stateid{Other: other})
		}
		f.mu.Unlock()
		ids = append(ids, Stateid{Other: [12]byte{0xff}}) // never granted
		res, err := c.TestStateids(ctx, rpc.Root, ids)
		if err != nil {
			t.Errorf("TEST_STATEID: %v", err)
		}
		for i, e := range res {
			if Revoked(e) {
				if err := c.FreeStateid(ctx, rpc.Root, ids[i]); err != nil {
					t.Errorf("FREE_STATEID of the revoked stateid: %v", err)
				}
			}
		}
		results <- res
	}})
	var opens [2]OpenResult
	for i, name := range []string{"kept", "revoked"} {
		o, err := c.Open(ctx, rpc.Root, OpenArgs{Dir: benchFH, Name: name, Access: ShareBoth, Create: Unchecked})
		if err != nil {
			t.Fatal(err)
		}
		opens[i] = o
	}
	f.mu.Lock()
	f.revoked = map[[12]byte]bool{opens[1].Stateid.Other: true}
	f.mu.Unlock()
	for range 5 {
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(ready)
	res := <-results
	if len(res) != 3 {
		t.Fatalf("%d statuses for 3 stateids", len(res))
	}
	revoked, valid, bad := 0, 0, 0
	for _, e := range res {
		var nerr *Error
		switch {
		case e == nil:
			valid++
		case Revoked(e):
			revoked++
		case errors.As(e, &nerr) && nerr.Status == nfsv4.NFS4ERR_BAD_STATEID:
			bad++
		}
	}
	if revoked != 1 || valid != 1 || bad != 1 {
		t.Errorf("TEST_STATEID: %d revoked, %d valid, %d unknown; want 1 each (%v)", revoked, valid, bad, res)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Config.Revoked called %d times for 5 flagged replies, want 1", n)
	}
	f.mu.Lock()
	left := len(f.revoked)
	f.mu.Unlock()
	if left != 0 {
		t.Errorf("%d revoked stateids left on the server after FREE_STATEID", left)
	}
}

package nfsclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/buildbarn/go-xdr/pkg/protocols/rpcv2"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// Microbenchmarks of the READ/WRITE data path without a server: encoding
// a COMPOUND, decoding its reply, and a whole call through Client over
// net.Pipe to a scripted responder. They isolate our CPU and allocation
// cost per request from the network and ganesha (BenchmarkSequentialIO
// measures those). Run with:
//
//	go test -run '^$' -bench 'Compound|Reply|RoundTrip' -benchmem ./nfsclient
//
// allocs/op is the figure to watch: part of every 1 MiB READ or WRITE
// is one copy of the payload, and each extra one shows as ~1 MiB B/op.

var benchSizes = []struct {
	name string
	n    int
}{{"4KiB", 4 << 10}, {"1MiB", 1 << 20}}

var benchFH = FH(bytes.Repeat([]byte{0xfe}, 32)) // a typical ganesha handle length

// benchClient is a Client with just what encoding needs.
func benchClient() (*Client, *session) {
	c := &Client{prog: rpc.Program{Prog: nfsProgram, Vers: nfsVersion, Machine: "bench"}, xids: rpc.NewXIDs(1)}
	return c, &session{clientID: 1, id: [16]byte{1}, slots: newSlotTable(64)}
}

// BenchmarkEncodeWriteCompound builds and encodes SEQUENCE+PUTFH+WRITE
// (the record Client.Write sends), its buffer recycled as transmit does.
func BenchmarkEncodeWriteCompound(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			c, s := benchClient()
			data := make([]byte, sz.n)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				ops := []nfsv4.NfsArgop4{putFH(benchFH), &nfsv4.NfsArgop4_OP_WRITE{Opwrite: nfsv4.Write4args{
					Offset: 1 << 30, Stable: Unstable, Data: data,
				}}}
				rec, err := c.encodeCompound(s, slotGrant{id: 3, seqid: 7, highest: 7}, rpc.Root, ops)
				if err != nil {
					b.Fatal(err)
				}
				rpc.ReleaseCall(rec) // as transmit does once the reply is in
			}
		})
	}
}

// BenchmarkEncodeReadCompound builds and encodes SEQUENCE+PUTFH+READ.
func BenchmarkEncodeReadCompound(b *testing.B) {
	c, s := benchClient()
	b.ReportAllocs()
	for b.Loop() {
		ops := []nfsv4.NfsArgop4{putFH(benchFH), &nfsv4.NfsArgop4_OP_READ{Opread: nfsv4.Read4args{Offset: 1 << 30, Count: 1 << 20}}}
		if _, err := c.encodeCompound(s, slotGrant{id: 3, seqid: 7, highest: 7}, rpc.Root, ops); err != nil {
			b.Fatal(err)
		}
	}
}

// replyRecord is a whole RPC reply record (without its mark) carrying a
// COMPOUND4res of SEQUENCE, PUTFH and res.
func replyRecord(xid uint32, res nfsv4.NfsResop4) []byte {
	var b bytes.Buffer
	msg := rpcv2.RpcMsg{Xid: xid, Body: &rpcv2.RpcMsgBody_REPLY{Rbody: &rpcv2.ReplyBody_MSG_ACCEPTED{
		Areply: rpcv2.AcceptedReply{Verf: rpcv2.OpaqueAuth{Flavor: rpcv2.AUTH_NONE}, ReplyData: &rpcv2.AcceptedReplyData_SUCCESS{}},
	}}}
	_, _ = msg.WriteTo(&b)
	b.Write(encodeCompoundRes(nfsv4.NFS4_OK, seqOK(), &nfsv4.NfsResop4_OP_PUTFH{}, res))
	return b.Bytes()
}

// BenchmarkDecodeReadReply parses the RPC header and the COMPOUND reply
// of a READ and copies the data out, as Client.Read does.
func BenchmarkDecodeReadReply(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			rec := replyRecord(9, &nfsv4.NfsResop4_OP_READ{Opread: &nfsv4.Read4res_NFS4_OK{Resok4: nfsv4.Read4resok{Data: make([]byte, sz.n)}}})
			buf := make([]byte, sz.n)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if n, err := decodeReadReply(rec, buf); err != nil || n != sz.n {
					b.Fatalf("decode: %d bytes, %v", n, err)
				}
			}
		})
	}
}

func decodeReadReply(rec, buf []byte) (int, error) {
	_, body, err := rpc.ParseReply(rec)
	if err != nil {
		return 0, err
	}
	_, res, _, err := decodeCompound(body)
	if err != nil {
		return 0, err
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_READ](res[1:], 1)
	if err != nil {
		return 0, err
	}
	ok, err := okArm[*nfsv4.Read4res_NFS4_OK](r.Opread, "READ")
	if err != nil {
		return 0, err
	}
	return copy(buf, ok.Resok4.Data), nil
}

// BenchmarkDecodeWriteReply parses the reply of a WRITE.
func BenchmarkDecodeWriteReply(b *testing.B) {
	rec := replyRecord(9, &nfsv4.NfsResop4_OP_WRITE{Opwrite: &nfsv4.Write4res_NFS4_OK{Resok4: nfsv4.Write4resok{Count: 1 << 20}}})
	b.ReportAllocs()
	for b.Loop() {
		_, body, err := rpc.ParseReply(rec)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := decodeCompound(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTrip is one Client.Read or Client.Write, start to
// finish (slot, encode, transmit goroutine, record marking, routing the
// reply by XID, decode), against a responder on the other end of a
// net.Pipe that answers at once. ns/op is our own per-request latency
// floor. B/op counts both ends: the responder reuses its buffers, except
// that decoding a WRITE's arguments with go-xdr copies the data (about
// 2 MiB per 1 MiB WRITE); the client's own share is 1-2 KiB per request.
func BenchmarkRoundTrip(b *testing.B) {
	for _, op := range []string{"Read", "Write"} {
		for _, sz := range benchSizes {
			b.Run(op+"/"+sz.name, func(b *testing.B) {
				c := pipeClient(b, sz.n)
				ctx := context.Background()
				buf := make([]byte, sz.n)
				b.SetBytes(int64(sz.n))
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if op == "Read" {
						_, _, err = c.Read(ctx, rpc.Root, benchFH, Stateid{}, 0, buf)
					} else {
						_, err = c.Write(ctx, rpc.Root, benchFH, Stateid{}, 0, buf, Unstable)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// pipeClient dials a Client to a scripted responder over net.Pipe; the
// responder's READ replies carry readSize bytes. Both end in Cleanup.
func pipeClient(tb testing.TB, readSize int) *Client {
	tb.Helper()
	srv := &scriptedServer{data: make([]byte, readSize)}
	done := make(chan struct{})
	dial := func(context.Context) (net.Conn, error) {
		cli, s := net.Pipe()
		go func() {
			defer close(done)
			srv.serve(s)
		}()
		return cli, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, Config{Dial: dial, OwnerID: "micro-bench", MaxRequests: 8, Heartbeat: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			tb.Errorf("close: %v", err)
		}
		<-done
		if srv.err != nil && !errors.Is(srv.err, io.EOF) && !errors.Is(srv.err, io.ErrClosedPipe) {
			tb.Errorf("responder: %v", srv.err)
		}
	})
	return c
}

// scriptedServer answers just enough of NFSv4.1 for a session and
// READ/WRITE: every op succeeds at once.
type scriptedServer struct {
	data []byte       // READ payload
	err  error        // why serve ended
	out  bytes.Buffer // reply being built, reused: the responder's allocations stay out of allocs/op
}

func (s *scriptedServer) serve(nc net.Conn) {
	defer nc.Close()
	rr := rpc.NewRecordReader(nc, 4<<20)
	for {
		rec, err := rr.ReadRecord()
		if err != nil {
			s.err = err
			return
		}
		reply, err := s.answer(rec)
		rpc.ReleaseRecord(rec)
		if err != nil {
			s.err = err
			return
		}
		if err := rpc.WriteRecord(nc, reply, len(reply)); err != nil {
			s.err = err
			return
		}
	}
}

func (s *scriptedServer) answer(rec []byte) ([]byte, error) {
	r := bytes.NewReader(rec)
	var call rpcv2.RpcMsg
	if _, err := call.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("call header: %w", err)
	}
	cb, ok := call.Body.(*rpcv2.RpcMsgBody_CALL)
	if !ok {
		return nil, errors.New("not a call")
	}
	out := &s.out
	out.Reset()
	msg := rpcv2.RpcMsg{Xid: call.Xid, Body: &rpcv2.RpcMsgBody_REPLY{Rbody: &rpcv2.ReplyBody_MSG_ACCEPTED{
		Areply: rpcv2.AcceptedReply{Verf: rpcv2.OpaqueAuth{Flavor: rpcv2.AUTH_NONE}, ReplyData: &rpcv2.AcceptedReplyData_SUCCESS{}},
	}}}
	_, _ = msg.WriteTo(out)
	if cb.Cbody.Proc == procNull {
		return out.Bytes(), nil
	}
	var args nfsv4.Compound4args
	if _, err := args.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("compound args: %w", err)
	}
	res := nfsv4.Compound4res{Status: nfsv4.NFS4_OK}
	for _, op := range args.Argarray {
		r, err := s.result(op)
		if err != nil {
			return nil, err
		}
		res.Resarray = append(res.Resarray, r)
	}
	_, _ = res.WriteTo(out)
	return out.Bytes(), nil
}

func (s *scriptedServer) result(op nfsv4.NfsArgop4) (nfsv4.NfsResop4, error) {
	switch a := op.(type) {
	case *nfsv4.NfsArgop4_OP_EXCHANGE_ID:
		return &nfsv4.NfsResop4_OP_EXCHANGE_ID{OpexchangeId: &nfsv4.ExchangeId4res_NFS4_OK{EirResok4: nfsv4.ExchangeId4resok{
			EirClientid: 1, EirSequenceid: 1, EirStateProtect: &nfsv4.StateProtect4R_SP4_NONE{},
		}}}, nil
	case *nfsv4.NfsArgop4_OP_CREATE_SESSION:
		return &nfsv4.NfsResop4_OP_CREATE_SESSION{OpcreateSession: &nfsv4.CreateSession4res_NFS4_OK{CsrResok4: nfsv4.CreateSession4resok{
			CsrSessionid: [16]byte{1}, CsrSequence: a.OpcreateSession.CsaSequence,
			CsrForeChanAttrs: a.OpcreateSession.CsaForeChanAttrs, CsrBackChanAttrs: a.OpcreateSession.CsaBackChanAttrs,
		}}}, nil
	case *nfsv4.NfsArgop4_OP_SEQUENCE:
		q := a.Opsequence
		return &nfsv4.NfsResop4_OP_SEQUENCE{Opsequence: &nfsv4.Sequence4res_NFS4_OK{SrResok4: nfsv4.Sequence4resok{
			SrSessionid: q.SaSessionid, SrSequenceid: q.SaSequenceid, SrSlotid: q.SaSlotid,
			SrHighestSlotid: 7, SrTargetHighestSlotid: 7,
		}}}, nil
	case *nfsv4.NfsArgop4_OP_RECLAIM_COMPLETE:
		return &nfsv4.NfsResop4_OP_RECLAIM_COMPLETE{}, nil
	case *nfsv4.NfsArgop4_OP_PUTROOTFH:
		return &nfsv4.NfsResop4_OP_PUTROOTFH{}, nil
	case *nfsv4.NfsArgop4_OP_PUTFH:
		return &nfsv4.NfsResop4_OP_PUTFH{}, nil
	case *nfsv4.NfsArgop4_OP_GETATTR:
		// No attributes: the client then assumes the default lease.
		return &nfsv4.NfsResop4_OP_GETATTR{Opgetattr: &nfsv4.Getattr4res_NFS4_OK{}}, nil
	case *nfsv4.NfsArgop4_OP_READ:
		n := min(int(a.Opread.Count), len(s.data))
		return &nfsv4.NfsResop4_OP_READ{Opread: &nfsv4.Read4res_NFS4_OK{Resok4: nfsv4.Read4resok{Data: s.data[:n]}}}, nil
	case *nfsv4.NfsArgop4_OP_WRITE:
		return &nfsv4.NfsResop4_OP_WRITE{Opwrite: &nfsv4.Write4res_NFS4_OK{Resok4: nfsv4.Write4resok{
			Count: uint32(len(a.Opwrite.Data)), Committed: Unstable,
		}}}, nil
	case *nfsv4.NfsArgop4_OP_DESTROY_SESSION:
		return &nfsv4.NfsResop4_OP_DESTROY_SESSION{}, nil
	case *nfsv4.NfsArgop4_OP_DESTROY_CLIENTID:
		return &nfsv4.NfsResop4_OP_DESTROY_CLIENTID{}, nil
	}
	return nil, fmt.Errorf("scripted server: unexpected op %s", opName(op.GetArgop()))
}

// TestScriptedServer keeps the responder honest: a READ and a WRITE
// through it give what it was scripted to answer.
func TestScriptedServer(t *testing.T) {
	c := pipeClient(t, 4096)
	buf := make([]byte, 4096)
	if n, _, err := c.Read(context.Background(), rpc.Root, benchFH, Stateid{}, 0, buf); err != nil || n != 4096 {
		t.Fatalf("READ: %d, %v", n, err)
	}
	if w, err := c.Write(context.Background(), rpc.Root, benchFH, Stateid{}, 0, buf[:100], Unstable); err != nil || w.Count != 100 {
		t.Fatalf("WRITE: %+v, %v", w, err)
	}
}

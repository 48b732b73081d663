package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/rpcv2"
)

// acceptedReply encodes a successful reply for xid carrying results.
func acceptedReply(xid uint32, results []byte) []byte {
	msg := rpcv2.RpcMsg{Xid: xid, Body: &rpcv2.RpcMsgBody_REPLY{Rbody: &rpcv2.ReplyBody_MSG_ACCEPTED{
		Areply: rpcv2.AcceptedReply{Verf: rpcv2.OpaqueAuth{Flavor: rpcv2.AUTH_NONE}, ReplyData: &rpcv2.AcceptedReplyData_SUCCESS{}},
	}}}
	var b bytes.Buffer
	_, _ = msg.WriteTo(&b)
	b.Write(results)
	return b.Bytes()
}

// parseCall decodes a call record as a server would.
func parseCall(t *testing.T, rec []byte) (rpcv2.RpcMsg, []byte) {
	t.Helper()
	r := bytes.NewReader(rec)
	var msg rpcv2.RpcMsg
	if _, err := msg.ReadFrom(r); err != nil {
		t.Errorf("server: bad call: %v", err)
	}
	return msg, rec[len(rec)-r.Len():]
}

// echoServer answers every call with its own arguments, replying in a
// shuffled order to prove routing by XID, and splitting replies into
// fragments to prove reassembly.
func echoServer(t *testing.T, nc net.Conn, batch int) {
	rr := NewRecordReader(nc, 1<<22)
	for {
		var recs [][]byte
		for len(recs) < batch {
			rec, err := rr.ReadRecord()
			if err != nil {
				return
			}
			recs = append(recs, rec)
		}
		rand.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		for _, rec := range recs {
			msg, args := parseCall(t, rec)
			if err := WriteRecord(nc, acceptedReply(msg.Xid, args), 100); err != nil {
				return
			}
		}
	}
}

func TestConnManyCallsInFlight(t *testing.T) {
	cli, srv := net.Pipe()
	go echoServer(t, srv, 100)
	c := NewConn(cli, Options{})
	defer c.Close()

	p := Program{Prog: 100003, Vers: 4, Machine: "test"}
	xids := NewXIDs(7)
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			payload := make([]byte, 4*(1+i))
			binary.BigEndian.PutUint32(payload, uint32(i))
			rec, err := p.EncodeCall(xids.Next(), 1, Cred{UID: uint32(i)}, argsOf(payload))
			if err != nil {
				t.Error(err)
				return
			}
			res, err := c.Call(context.Background(), rec)
			if err != nil {
				t.Errorf("call %d: %v", i, err)
				return
			}
			if !bytes.Equal(res, payload) {
				t.Errorf("call %d got the results of another call", i)
			}
		}(i)
	}
	wg.Wait()
}

func argsOf(b []byte) Args { return bytesArgs(b) }

// bytesArgs is call arguments given as raw bytes.
type bytesArgs []byte

func (a bytesArgs) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(a)
	return int64(n), err
}

func (a bytesArgs) GetEncodedSizeBytes() int { return len(a) }

func TestConnFailsPendingCalls(t *testing.T) {
	p := Program{Prog: 1, Vers: 1}
	for _, tc := range []struct {
		name  string
		serve func(net.Conn)
	}{
		{"ServerCloses", func(nc net.Conn) { _ = nc.Close() }},
		{"ShortRecord", func(nc net.Conn) { _ = WriteRecord(nc, []byte{1, 2, 3}, 0) }},
		{"OversizedRecord", func(nc net.Conn) { _, _ = nc.Write([]byte{0xff, 0xff, 0xff, 0xff}) }},
		{"EndsInsideRecord", func(nc net.Conn) { _, _ = nc.Write([]byte{0x80, 0, 0, 100, 1, 2}); _ = nc.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli, srv := net.Pipe()
			c := NewConn(cli, Options{MaxRecord: 1 << 16})
			defer c.Close()
			go func() {
				rr := NewRecordReader(srv, 1<<20)
				if _, err := rr.ReadRecord(); err != nil {
					return
				}
				tc.serve(srv)
				_, _ = io.Copy(io.Discard, srv)
			}()
			rec, _ := p.EncodeCall(1, 0, Root, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := c.Call(ctx, rec)
			if !errors.Is(err, ErrConnClosed) {
				t.Fatalf("err = %v, want ErrConnClosed", err)
			}
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("connection not marked done")
			}
			if _, err := c.Send(rec); !errors.Is(err, ErrConnClosed) {
				t.Fatalf("send after end: err = %v, want ErrConnClosed", err)
			}
		})
	}
}

func TestConnCallCancelled(t *testing.T) {
	cli, srv := net.Pipe()
	c := NewConn(cli, Options{})
	defer c.Close()
	received := make(chan []byte, 1)
	go func() {
		rec, err := NewRecordReader(srv, 1<<20).ReadRecord()
		if err == nil {
			received <- rec
		}
		_, _ = io.Copy(io.Discard, srv)
	}()
	rec, _ := Program{Prog: 1, Vers: 1}.EncodeCall(9, 0, Root, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-received; cancel() }()
	if _, err := c.Call(ctx, rec); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// The XID is free again: a late reply is dropped, a resend is allowed.
	ch, err := c.Send(rec)
	if err != nil || ch == nil {
		t.Fatalf("resend after cancel: %v", err)
	}
}

func TestAuthSysGroupsCapped(t *testing.T) {
	groups := make([]uint32, 40)
	for i := range groups {
		groups[i] = uint32(100 + i)
	}
	rec, err := Program{Prog: 1, Vers: 1, Machine: "host"}.EncodeCall(5, 0, Cred{UID: 1000, GID: 1001, Groups: groups}, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := parseCall(t, rec[MarkSize:])
	call := msg.Body.(*rpcv2.RpcMsgBody_CALL).Cbody
	if call.Cred.Flavor != rpcv2.AUTH_SYS {
		t.Fatalf("flavor = %d", call.Cred.Flavor)
	}
	var p rpcv2.AuthsysParms
	if _, err := p.ReadFrom(bytes.NewReader(call.Cred.Body)); err != nil {
		t.Fatal(err)
	}
	if p.Uid != 1000 || p.Gid != 1001 || p.Machinename != "host" || len(p.Gids) != MaxGroups || p.Gids[15] != 115 {
		t.Fatalf("auth_sys = %+v", p)
	}
}

func TestParseReplyErrors(t *testing.T) {
	enc := func(msg rpcv2.RpcMsg) []byte {
		var b bytes.Buffer
		_, _ = msg.WriteTo(&b)
		return b.Bytes()
	}
	denied := enc(rpcv2.RpcMsg{Xid: 3, Body: &rpcv2.RpcMsgBody_REPLY{Rbody: &rpcv2.ReplyBody_MSG_DENIED{
		Rreply: &rpcv2.RejectedReply_AUTH_ERROR{Stat: rpcv2.AUTH_TOOWEAK}}}})
	_, _, err := ParseReply(denied)
	var re *ReplyError
	if !errors.As(err, &re) || !re.Denied || re.AuthStat != rpcv2.AUTH_TOOWEAK {
		t.Fatalf("denied reply: err = %v", err)
	}
	garbage := enc(rpcv2.RpcMsg{Xid: 4, Body: &rpcv2.RpcMsgBody_REPLY{Rbody: &rpcv2.ReplyBody_MSG_ACCEPTED{
		Areply: rpcv2.AcceptedReply{ReplyData: &rpcv2.AcceptedReplyData_default{Stat: rpcv2.GARBAGE_ARGS}}}}})
	if _, _, err := ParseReply(garbage); !errors.As(err, &re) || re.AcceptStat != rpcv2.GARBAGE_ARGS {
		t.Fatalf("garbage args reply: err = %v", err)
	}
	if _, _, err := ParseReply([]byte{0, 0, 0, 1, 0, 0, 0, 1, 0, 0}); !errors.Is(err, ErrGarbledReply) {
		t.Fatalf("truncated reply: err = %v", err)
	}
	xid, res, err := ParseReply(acceptedReply(8, []byte{1, 2, 3, 4}))
	if err != nil || xid != 8 || !bytes.Equal(res, []byte{1, 2, 3, 4}) {
		t.Fatalf("good reply: %d %v %v", xid, res, err)
	}
}

func FuzzParseReply(f *testing.F) {
	f.Add(acceptedReply(1, []byte{0, 0, 0, 0}))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, res, err := ParseReply(data)
		if err == nil && len(res) > len(data) {
			t.Fatal("results longer than the record")
		}
	})
}

package rpc

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// TestConnJunkIsNoSignOfLife: a peer that answers a pending call only with
// records that answer nothing (replies to XIDs never sent, calls) does
// not move LastReceive, so the owner's heartbeat still finds the
// connection stalled; the real reply does move it. A hard mount once
// waited 620 s on such a peer.
func TestConnJunkIsNoSignOfLife(t *testing.T) {
	cli, srv := net.Pipe()
	c := NewConn(cli, Options{})
	defer c.Close()
	defer srv.Close()
	got := make(chan error, 1)
	go func() { // net.Pipe is unbuffered: the server reads while we send
		_, err := NewRecordReader(srv, 1<<20).ReadRecord()
		got <- err
	}()
	rec, _ := Program{Prog: 1, Vers: 1}.EncodeCall(42, 0, Root, nil)
	ch, err := c.Send(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	before := c.LastReceive()
	time.Sleep(20 * time.Millisecond)
	aCall := make([]byte, 8)
	binary.BigEndian.PutUint32(aCall, 7) // xid 7, mtype 0: a CALL
	for i := 0; i < 50; i++ {
		for _, junk := range [][]byte{acceptedReply(uint32(1000+i), nil), aCall} {
			if err := WriteRecord(srv, junk, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The reader has taken every junk record once the real reply is
	// accepted for writing; check before sending it.
	time.Sleep(20 * time.Millisecond)
	if got := c.LastReceive(); !got.Equal(before) {
		t.Fatalf("junk records moved LastReceive by %v: the stalled connection looks alive", got.Sub(before))
	}
	if c.Pending() != 1 {
		t.Fatalf("pending = %d, want the one call still waiting", c.Pending())
	}
	if err := WriteRecord(srv, acceptedReply(42, nil), 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case r := <-ch:
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	case <-ctx.Done():
		t.Fatal("no reply")
	}
	if !c.LastReceive().After(before) {
		t.Error("the reply to the pending call did not move LastReceive")
	}
}

package nfsclient

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// TestInterruptedCallKeepsSlot: a caller gives up on a request whose reply
// the server holds back. The caller gets its ctx error at once, but the
// request's slot stays reserved until the reply arrives (RFC 8881 section
// 2.10.6.2: the request may still run), so the next request waits for it
// and then uses the slot's next sequence id. Reusing the slot early with
// the same seqid would be answered from the server's reply cache; with
// seqid+1 before the reply, the server would see a request while the slot
// is busy.
func TestInterruptedCallKeepsSlot(t *testing.T) {
	f := newFakeServer()
	f.slots = 1 // one slot: "not reused" means the next call must wait
	c := dialFake(t, f, Config{MaxRequests: 1})

	arrived := make(chan struct{})
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // runs before the client closes
	var holdOnce sync.Once
	f.mu.Lock()
	f.hold = func(ops []nfsv4.NfsArgop4) <-chan struct{} {
		var ch <-chan struct{}
		if len(ops) == 3 && opName(ops[2].GetArgop()) == "GETATTR" {
			holdOnce.Do(func() { ch = release; close(arrived) })
		}
		return ch
	}
	f.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan callResult, 1)
	go func() {
		first <- c.compoundOnce(ctx, rpc.Root, []nfsv4.NfsArgop4{putFH(benchFH), getattr(FileAttrRequest)})
	}()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the server")
	}
	start := time.Now()
	cancel()
	select {
	case r := <-first:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("interrupted call returned %v, want context.Canceled", r.err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("interrupted call took %v to return", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("interrupted call did not return while its reply was held")
	}

	s := c.sess.Load()
	s.slots.mu.Lock()
	busy := s.slots.busy[0]
	s.slots.mu.Unlock()
	if !busy {
		t.Fatal("slot 0 was freed before its reply came")
	}
	f.mu.Lock()
	seen := len(f.seqs)
	held := f.seqs[seen-1]
	f.mu.Unlock()

	second := make(chan error, 1)
	go func() {
		_, err := c.compound(context.Background(), rpc.Root, putFH(benchFH), getattr(FileAttrRequest))
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("a request ran on the reserved slot before its reply (err %v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	f.mu.Lock()
	sent := len(f.seqs) - seen
	f.mu.Unlock()
	if sent != 0 {
		t.Fatalf("%d requests reached the server while the only slot was reserved", sent)
	}

	releaseOnce.Do(func() { close(release) })
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("request after the held reply: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the slot was never freed after its reply came")
	}
	f.mu.Lock()
	next := f.seqs[seen]
	f.mu.Unlock()
	if next.slot != held.slot || next.seqid != held.seqid+1 {
		t.Fatalf("next request on slot %d seqid %d; the held one was slot %d seqid %d, want seqid %d",
			next.slot, next.seqid, held.slot, held.seqid, held.seqid+1)
	}
}

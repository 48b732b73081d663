package nfsclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// TestReconnectUnderCuts writes and reads 64 MiB while every connection
// is cut every 200 ms: each in-flight request is resent on the next
// connection, and the data must come out whole. With three connections
// the cuts also catch READs and WRITEs on the extra ones, whose keepers
// bind new connections while the primary reconnects.
func TestReconnectUnderCuts(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("Connections=%d", n), func(t *testing.T) { testReconnectUnderCuts(t, n) })
	}
}

func testReconnectUnderCuts(t *testing.T, conns int) {
	export := t.TempDir()
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	c := dialTLS(t, tgt, func(cfg *nfsclient.Config) { cfg.Connections = conns })
	ctx := context.Background()
	rootFH, _, err := c.LookupPath(ctx, root, "/")
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	cuts := 0
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				cuts += tgt.CutConnections()
			}
		}
	}()

	const size, chunk = 64 << 20, 1 << 20
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i*7 + i>>16)
	}
	o, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: rootFH, Name: "cut", Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked})
	if err != nil {
		t.Fatal(err)
	}
	sem := make(chan struct{}, 8)
	var iow sync.WaitGroup
	for i := 0; i < size/chunk; i++ {
		iow.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; iow.Done() }()
			if _, err := c.Write(ctx, root, o.FH, o.Stateid, uint64(i*chunk), src[i*chunk:(i+1)*chunk], nfsclient.FileSync); err != nil {
				t.Errorf("WRITE %d: %v", i, err)
			}
		}(i)
	}
	iow.Wait()
	got := make([]byte, size)
	for i := 0; i < size/chunk; i++ {
		iow.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; iow.Done() }()
			if n, _, err := c.Read(ctx, root, o.FH, o.Stateid, uint64(i*chunk), got[i*chunk:(i+1)*chunk]); err != nil || n != chunk {
				t.Errorf("READ %d: %d, %v", i, n, err)
			}
		}(i)
	}
	iow.Wait()
	close(stop)
	wg.Wait()
	if err := c.CloseState(ctx, root, o.FH, o.Stateid); err != nil {
		t.Fatalf("CLOSE after cuts: %v", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(src) {
		t.Fatal("data read back differs")
	}
	if b, _ := os.ReadFile(filepath.Join(export, "cut")); sha256.Sum256(b) != sha256.Sum256(src) {
		t.Fatal("backing file differs")
	}
	st := c.Stats()
	t.Logf("%d connections cut, %d reconnects, %d session recoveries", cuts, st.Reconnects, st.Recoveries)
	if cuts == 0 || st.Reconnects == 0 {
		t.Fatalf("the test cut nothing (cuts %d, reconnects %d)", cuts, st.Reconnects)
	}
}

// TestResendIsByteIdentical puts a recording proxy between the client and
// ganesha that, once, forwards a WRITE and then cuts the connection before
// the reply can come back. The request must be resent on the next
// connection unchanged (same XID, slot and sequence id: the same bytes), so
// that the server's reply cache, not a second execution, answers it.
func TestResendIsByteIdentical(t *testing.T) {
	export := t.TempDir()
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	p := newCuttingProxy(t, tgt.NFSAddr())
	c := dial(t, p.dial)
	ctx := context.Background()
	rootFH, _, err := c.LookupPath(ctx, root, "/")
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: rootFH, Name: "resent", Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked})
	if err != nil {
		t.Fatal(err)
	}
	p.armed.Store(true)
	data := []byte("written exactly once")
	if _, err := c.Write(ctx, root, o.FH, o.Stateid, 0, data, nfsclient.FileSync); err != nil {
		t.Fatalf("WRITE across a cut: %v", err)
	}
	first, resent := p.result()
	if first == nil || resent == nil {
		t.Fatal("the proxy saw no cut request and resend")
	}
	if !bytes.Equal(first, resent) {
		t.Fatalf("resent request differs from the first:\n%x\n%x", first, resent)
	}
	if got, _ := os.ReadFile(filepath.Join(export, "resent")); !bytes.Equal(got, data) {
		t.Fatalf("file holds %q", got)
	}
}

// cuttingProxy relays client records to a server. When armed, it forwards
// the first WRITE-sized record, then closes both sides before the reply;
// it remembers that record and the next one with the same XID.
type cuttingProxy struct {
	t       *testing.T
	backend string
	armed   atomic.Bool
	mu      sync.Mutex
	cutRec  []byte
	resend  []byte
}

func newCuttingProxy(t *testing.T, backend string) *cuttingProxy {
	return &cuttingProxy{t: t, backend: backend}
}

func (p *cuttingProxy) result() ([]byte, []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cutRec, p.resend
}

func (p *cuttingProxy) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	server, err := d.DialContext(ctx, "tcp", p.backend)
	if err != nil {
		return nil, err
	}
	client, proxySide := net.Pipe()
	go func() { _, _ = io.Copy(proxySide, server); _ = proxySide.Close() }()
	go func() {
		defer server.Close()
		defer proxySide.Close()
		rr := rpc.NewRecordReader(proxySide, 4<<20)
		for {
			rec, err := rr.ReadRecord()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cutRec != nil && p.resend == nil && bytes.Equal(rec[:4], p.cutRec[:4]) {
				p.resend = rec
			}
			cut := p.cutRec == nil && p.armed.Load() && len(rec) > 20 && bytes.Contains(rec, []byte("written exactly once"))
			if cut {
				p.cutRec = rec
			}
			p.mu.Unlock()
			if cut {
				// The client loses the connection first, so the
				// reply cannot reach it; the server still runs it.
				_ = proxySide.Close()
			}
			if err := rpc.WriteRecord(server, rec, 0); err != nil {
				return
			}
			if cut {
				time.Sleep(100 * time.Millisecond)
				return
			}
		}
	}()
	return client, nil
}

// TestRecoveryTime cuts the connection of an idle-then-busy client several
// times and measures how long the next request takes to be answered (the
// reconnect, BIND_CONN_TO_SESSION and the request). The median goes to the
// test log; the assertion is only that every cut is survived.
func TestRecoveryTime(t *testing.T) {
	tgt := testtarget.Start(t)
	c := dialTLS(t, tgt)
	ctx := context.Background()
	rootFH, _, err := c.LookupPath(ctx, root, "/")
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Duration
	for i := 0; i < 7; i++ {
		if n := tgt.CutConnections(); n == 0 {
			t.Fatalf("cut %d: no connection to cut", i)
		}
		start := time.Now()
		if _, err := c.Getattr(ctx, root, rootFH); err != nil {
			t.Fatalf("GETATTR after cut %d: %v", i, err)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	t.Logf("time to answer the first request after a cut: median %v (min %v, max %v, %d cuts)", times[len(times)/2], times[0], times[len(times)-1], len(times))
	if st := c.Stats(); st.Reconnects < int64(len(times)) {
		t.Fatalf("%d reconnects for %d cuts", st.Reconnects, len(times))
	}
}

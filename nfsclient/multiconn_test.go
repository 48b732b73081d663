package nfsclient_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// TestMultipleConnections: with Connections = 4 the client binds four TLS
// connections to its one session, READs and WRITEs take turns over all of
// them, and everything else stays on the first. ganesha serves requests of
// one session arriving on several connections, and the data comes out
// whole.
func TestMultipleConnections(t *testing.T) {
	const conns = 4
	export, _, rd, c := startWithConnections(t, conns)
	ctx := context.Background()
	o := createInRoot(t, c, "spread")
	const blocks, size = 32, 1 << 20
	var wg sync.WaitGroup
	for i := range blocks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := bytes.Repeat([]byte{byte(i)}, size)
			if _, err := c.Write(ctx, root, o.FH, o.Stateid, uint64(i*size), b, nfsclient.FileSync); err != nil {
				t.Errorf("WRITE %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i := range blocks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, size)
			if n, _, err := c.Read(ctx, root, o.FH, o.Stateid, uint64(i*size), b); err != nil || n != size || !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, size)) {
				t.Errorf("READ %d: %d bytes, %v, or wrong data", i, n, err)
			}
		}()
	}
	wg.Wait()
	if err := c.CloseState(ctx, root, o.FH, o.Stateid); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(export, "spread")); err != nil || fi.Size() != blocks*size {
		t.Fatalf("the file on the server: %v, %v", fi, err)
	}

	rd.mu.Lock()
	defer rd.mu.Unlock()
	if len(rd.conns) != conns {
		t.Fatalf("%d connections dialled, want %d", len(rd.conns), conns)
	}
	for i, w := range rd.conns {
		w.mu.Lock()
		var out, in int
		for _, r := range w.calls {
			out += len(r.data)
		}
		for _, r := range w.replies {
			in += len(r.data)
		}
		calls := len(w.calls)
		w.mu.Unlock()
		t.Logf("connection %d: %d calls, %d KiB sent, %d KiB received", i+1, calls, out>>10, in>>10)
		// Each connection took its turn at both WRITEs and READs.
		if out < size || in < size {
			t.Errorf("connection %d carried %d bytes of calls and %d of replies: no share of the I/O", i+1, out, in)
		}
	}
}

// TestMultipleConnectionsAfterRestart: when ganesha restarts, every
// connection drops; the primary makes a new session and the extras are
// bound to that one (not the old), so WRITEs spread again.
func TestMultipleConnectionsAfterRestart(t *testing.T) {
	const conns = 3
	_, tgt, rd, c := startWithConnections(t, conns)
	ctx := context.Background()
	if err := tgt.RestartGanesha(ctx, localtarget.RestartOptions{Kill: true}); err != nil {
		t.Fatalf("restart ganesha: %v", err)
	}
	rootFH, _, err := c.LookupPath(ctx, root, "/") // waits for the new session
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if c.Stats().Recoveries == 0 {
		t.Fatal("no session recovery after the restart")
	}
	waitConnections(t, c, conns, "after the restart")
	rd.mu.Lock()
	before := len(rd.conns)
	sent := make([]int, before)
	for i, w := range rd.conns {
		w.mu.Lock()
		sent[i] = len(w.calls)
		w.mu.Unlock()
	}
	rd.mu.Unlock()

	o, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: rootFH, Name: "after", Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 3 * conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Write(ctx, root, o.FH, o.Stateid, uint64(i)<<20, make([]byte, 1<<20), nfsclient.FileSync); err != nil {
				t.Errorf("WRITE %d after the restart: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if err := c.CloseState(ctx, root, o.FH, o.Stateid); err != nil {
		t.Fatal(err)
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	used := 0
	for i, w := range rd.conns[:before] {
		w.mu.Lock()
		if len(w.calls) > sent[i] {
			used++
		}
		w.mu.Unlock()
	}
	t.Logf("%d connections dialled in all; %d carried requests after the restart", before, used)
	if used < conns {
		t.Errorf("%d connections carried requests after the restart, want %d: extras not bound to the new session", used, conns)
	}
}

// TestMultipleConnectionsBlackhole: with every connection silent for 4 s
// (heartbeat 1 s), the heartbeat fails the primary and each extra that has
// requests pending; WRITEs in flight on any of them are resent once the
// network is back, the data is whole, and all three connections are bound
// again.
func TestMultipleConnectionsBlackhole(t *testing.T) {
	const conns = 3
	export := t.TempDir()
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	c := dialTLS(t, tgt, func(cfg *nfsclient.Config) { cfg.Connections = conns; cfg.Heartbeat = time.Second })
	ctx := context.Background()
	waitConnections(t, c, conns, "at start")
	o := createInRoot(t, c, "silent")
	const blocks, size = 12, 1 << 20
	tgt.Blackhole(4 * time.Second)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range blocks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := bytes.Repeat([]byte{byte(i + 1)}, size)
			if _, err := c.Write(ctx, root, o.FH, o.Stateid, uint64(i*size), b, nfsclient.FileSync); err != nil {
				t.Errorf("WRITE %d across the black hole: %v", i, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d WRITEs across a 4 s black hole took %v; %d reconnects", blocks, time.Since(start), c.Stats().Reconnects)
	if err := c.CloseState(ctx, root, o.FH, o.Stateid); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(export, "silent"))
	if err != nil || len(b) != blocks*size {
		t.Fatalf("the file on the server: %d bytes, %v", len(b), err)
	}
	for i := range blocks {
		if !bytes.Equal(b[i*size:(i+1)*size], bytes.Repeat([]byte{byte(i + 1)}, size)) {
			t.Fatalf("block %d differs on the server", i)
		}
	}
	waitConnections(t, c, conns, "after the black hole")
}

// waitConnections waits until c has n connections bound to its session
// (the extras are bound in the background).
func waitConnections(t *testing.T, c *nfsclient.Client, n int, what string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); c.Stats().Connections < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d connections bound after 30 s, want %d", what, c.Stats().Connections, n)
		}
	}
}

// createInRoot creates and opens name in the export's root.
func createInRoot(t *testing.T, c *nfsclient.Client, name string) nfsclient.OpenResult {
	t.Helper()
	ctx := context.Background()
	rootFH, _, err := c.LookupPath(ctx, root, "/")
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: rootFH, Name: name, Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// startWithConnections starts a target and a client with conns
// connections, every connection recorded, and waits for all to be bound.
func startWithConnections(t *testing.T, conns int) (string, *localtarget.Target, *recordingDialer, *nfsclient.Client) {
	t.Helper()
	export := t.TempDir()
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	rd := &recordingDialer{base: tlsDialer(t, tgt)}
	c := dial(t, rd.dial, func(cfg *nfsclient.Config) { cfg.Connections = conns })
	waitConnections(t, c, conns, "at start")
	return export, tgt, rd, c
}

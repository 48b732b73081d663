package localtarget_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// graceSeconds is the grace period the restart tests run with: short, to
// keep the tests fast, and at least ganesha's lease here (testtarget: 10 s).
const graceSeconds = 5

// nfsClient is an nfsclient over plain TCP to ganesha whose dialer can be
// switched off (a client that cannot reach the server after a restart).
type nfsClient struct {
	*nfsclient.Client
	logs  *observer.ObservedLogs
	allow atomic.Bool
}

func dialNFS(t *testing.T, tg *localtarget.Target, reclaim func(context.Context, *nfsclient.Reclaimer) error) *nfsClient {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	nc := &nfsClient{logs: logs}
	nc.allow.Store(true)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := nfsclient.Dial(ctx, nfsclient.Config{
		Dial: func(ctx context.Context) (net.Conn, error) {
			if !nc.allow.Load() {
				return nil, errors.New("dialing switched off by the test")
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", tg.NFSAddr())
		},
		OwnerID: fmt.Sprintf("localtarget-test/%s/%d", t.Name(), time.Now().UnixNano()),
		Reclaim: reclaim,
		Logger:  log,
	})
	if err != nil {
		t.Fatalf("nfs session: %v", err)
	}
	nc.Client = c
	t.Cleanup(func() {
		nc.allow.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx) // the server may have forgotten us; nothing to check
	})
	return nc
}

// sessionLossLog returns what the client logged when the server no longer
// had its session: the status ganesha answered to the old session.
func (nc *nfsClient) sessionLossLog() string {
	for _, e := range nc.logs.All() {
		if strings.Contains(e.Message, "no longer has our session") {
			return fmt.Sprint(e.ContextMap()["error"])
		}
	}
	return ""
}

func nfsStatus(err error) nfsv4.Nfsstat4 {
	var nerr *nfsclient.Error
	if errors.As(err, &nerr) {
		return nerr.Status
	}
	return nfsv4.NFS4_OK
}

func openHeld(t *testing.T, c *nfsClient, name string) nfsclient.OpenResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir, _, err := c.LookupPath(ctx, rpc.Root, "/")
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Open(ctx, rpc.Root, nfsclient.OpenArgs{Dir: dir, Name: name, Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked})
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	if _, err := c.Write(ctx, rpc.Root, o.FH, o.Stateid, 0, []byte("before restart"), nfsclient.Stability(nfsv4.FILE_SYNC4)); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	return o
}

func restart(t *testing.T, tg *localtarget.Target, o localtarget.RestartOptions) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := tg.RestartGanesha(ctx, o); err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Logf("RestartGanesha(%+v) took %v", o, time.Since(start))
	return time.Now()
}

// TestRestartGaneshaKeepsPortAndData: a graceless SIGTERM restart keeps
// the port and the files, cuts TLS connections, and new ones work at once.
func TestRestartGaneshaKeepsPortAndData(t *testing.T) {
	tg := testtarget.Start(t)
	a := dialNFS(t, tg, nil)
	openHeld(t, a, "kept")
	conn := dialTLS(t, tg)
	if err := localtarget.NullPing(conn, 1); err != nil {
		t.Fatal(err)
	}
	addr, pid := tg.NFSAddr(), localtarget.GaneshaPID(tg)
	restart(t, tg, localtarget.RestartOptions{})
	if tg.NFSAddr() != addr || localtarget.GaneshaPID(tg) == pid {
		t.Errorf("after restart: addr %s pid %d, before %s pid %d", tg.NFSAddr(), localtarget.GaneshaPID(tg), addr, pid)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("TLS connection survived the restart")
	}
	if err := localtarget.NullPing(dialTLS(t, tg), 2); err != nil {
		t.Errorf("new TLS connection after restart: %v", err)
	}
	select {
	case <-tg.Done():
		t.Fatal("Done closed by a restart")
	default:
	}
	// Graceless: a new client opens at once, and the data is there.
	b := dialNFS(t, tg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	dir, _, err := b.LookupPath(ctx, rpc.Root, "/")
	if err != nil {
		t.Fatal(err)
	}
	o, err := b.Open(ctx, rpc.Root, nfsclient.OpenArgs{Dir: dir, Name: "kept", Access: nfsclient.ShareRead})
	if err != nil {
		t.Fatalf("open after a graceless restart: %v", err)
	}
	buf := make([]byte, 64)
	n, _, err := b.Read(ctx, rpc.Root, o.FH, o.Stateid, 0, buf)
	if err != nil || string(buf[:n]) != "before restart" {
		t.Errorf("read after restart: %q, %v", buf[:n], err)
	}
}

// TestRestartGrace: after a crash (SIGKILL) and a restart with grace, a
// client the server never knew gets NFS4ERR_GRACE for OPEN until the grace
// period ends (the old client, cut off, never reclaims); the old client then
// finds its session gone (BIND_CONN_TO_SESSION: NFS4ERR_BADSESSION) and its
// stateid stale (NFS4ERR_STALE_STATEID).
func TestRestartGrace(t *testing.T) {
	tg := testtarget.Start(t, testtarget.WithGraceSeconds(graceSeconds))
	a := dialNFS(t, tg, nil)
	held := openHeld(t, a, "held")
	a.allow.Store(false) // A cannot reach the new server: it cannot end the grace early
	up := restart(t, tg, localtarget.RestartOptions{Grace: true, Kill: true})

	b := dialNFS(t, tg, nil) // session bring-up (incl. RECLAIM_COMPLETE) works in grace
	ctx := context.Background()
	dir, _, err := b.LookupPath(ctx, rpc.Root, "/")
	if err != nil {
		t.Fatalf("LOOKUP during grace: %v", err)
	}
	newFile := nfsclient.OpenArgs{Dir: dir, Name: "new", Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked}
	short, cancel := context.WithTimeout(ctx, time.Second)
	_, err = b.Open(short, rpc.Root, newFile)
	cancel()
	if st := nfsStatus(err); st != nfsv4.NFS4ERR_GRACE {
		t.Errorf("OPEN in grace: %v, want NFS4ERR_GRACE", err)
	}
	long, cancel := context.WithTimeout(ctx, time.Duration(graceSeconds+10)*time.Second)
	defer cancel()
	if _, err := b.Open(long, rpc.Root, newFile); err != nil {
		t.Fatalf("OPEN after grace: %v", err)
	}
	opened := time.Since(up)
	t.Logf("new client's OPEN succeeded %v after the restart (grace %d s)", opened, graceSeconds)
	if opened < time.Duration(graceSeconds)*time.Second-500*time.Millisecond {
		t.Errorf("grace ended after %v, before its %d s", opened, graceSeconds)
	}

	a.allow.Store(true)
	if _, err := a.Getattr(long, rpc.Root, held.FH); err != nil {
		t.Fatalf("old client after recovery: %v", err)
	}
	if got := a.sessionLossLog(); !strings.Contains(got, "BIND_CONN_TO_SESSION: NFS4ERR_BADSESSION") {
		t.Errorf("old session on the new server: %q, want BIND_CONN_TO_SESSION: NFS4ERR_BADSESSION", got)
	}
	short, cancel = context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = a.Write(short, rpc.Root, held.FH, held.Stateid, 0, []byte("x"), nfsclient.Stability(nfsv4.FILE_SYNC4))
	if st := nfsStatus(err); st != nfsv4.NFS4ERR_STALE_STATEID {
		t.Errorf("WRITE with a stateid of the old server: %v, want NFS4ERR_STALE_STATEID", err)
	}
}

// TestRestartGraceReclaim: after a SIGTERM restart with grace, a client
// reclaims its open with CLAIM_PREVIOUS during the grace period and keeps
// writing with its old stateid (the client translates it). Once every known
// client sent RECLAIM_COMPLETE ganesha lifts the grace early, but only at
// its next periodic check (observed about 5.3 s after the restart with a
// 10 s lease and 15 s grace), not at once.
func TestRestartGraceReclaim(t *testing.T) {
	const longGrace = 15 // well past that periodic check
	tg := testtarget.Start(t, testtarget.WithGraceSeconds(longGrace))
	var held nfsclient.OpenResult
	var reclaimErr error
	a := dialNFS(t, tg, func(ctx context.Context, r *nfsclient.Reclaimer) error {
		_, reclaimErr = r.ReclaimOpen(ctx, rpc.Root, held.FH, nfsclient.OpenOwner(rpc.Root), nfsclient.ShareBoth, held.Stateid)
		return reclaimErr
	})
	held = openHeld(t, a, "held")
	up := restart(t, tg, localtarget.RestartOptions{Grace: true})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Getattr(ctx, rpc.Root, held.FH); err != nil {
		t.Fatal(err)
	}
	if reclaimErr != nil {
		t.Fatalf("CLAIM_PREVIOUS during grace: %v", reclaimErr)
	}
	if _, err := a.Write(ctx, rpc.Root, held.FH, held.Stateid, 0, []byte("after"), nfsclient.Stability(nfsv4.FILE_SYNC4)); err != nil {
		t.Errorf("write with the reclaimed open: %v", err)
	}
	if took := time.Since(up); took > time.Second {
		t.Errorf("reclaim took %v", took)
	}
	b := dialNFS(t, tg, nil)
	dir, _, err := b.LookupPath(ctx, rpc.Root, "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, rpc.Root, nfsclient.OpenArgs{Dir: dir, Name: "new", Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked}); err != nil {
		t.Fatal(err)
	}
	opened := time.Since(up)
	t.Logf("new client's OPEN succeeded %v after the restart (grace %d s, all known clients reclaimed)", opened, longGrace)
	if opened > longGrace*time.Second-2*time.Second {
		t.Errorf("grace not lifted early: OPEN waited %v of %d s", opened, longGrace)
	}
}

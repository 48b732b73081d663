package nfsclient

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
	"go.uber.org/zap/zaptest"
)

// destroySessionAside ends the client's current session on the server
// behind its back, over its own connection, leaving the client id and its
// state alone: what a server does when it drops an idle session.
func destroySessionAside(t *testing.T, c *Client) *session {
	t.Helper()
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	s := c.sess.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.compoundOn(ctx, conn, s, rpc.Root, &nfsv4.NfsArgop4_OP_DESTROY_SESSION{
		OpdestroySession: nfsv4.DestroySession4args{DsaSessionid: s.id},
	}); err != nil {
		t.Fatalf("DESTROY_SESSION on the side: %v", err)
	}
	return s
}

// TestSessionLostStateIntact against ganesha: the session is destroyed but
// the client id lives on, so the next request gets BADSESSION and the
// client makes a new session without reclaiming anything; the open taken
// before still works (WRITE, READ, CLOSE with its stateid).
func TestSessionLostStateIntact(t *testing.T) {
	export := t.TempDir()
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	var reclaims atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Dial(ctx, Config{
		Dial: func(ctx context.Context) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", tgt.NFSAddr())
		},
		OwnerID: fmt.Sprintf("efs-fuse-test/%s/%d", t.Name(), time.Now().UnixNano()),
		Logger:  zaptest.NewLogger(t),
		Reclaim: func(context.Context, *Reclaimer) error { reclaims.Add(1); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	rootFH, _, err := c.LookupPath(ctx, rpc.Root, "/")
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Open(ctx, rpc.Root, OpenArgs{Dir: rootFH, Name: "kept", Access: ShareBoth, Create: Unchecked})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(ctx, rpc.Root, o.FH, o.Stateid, 0, []byte("before "), FileSync); err != nil {
		t.Fatal(err)
	}

	old := destroySessionAside(t, c)
	if _, err := c.Write(ctx, rpc.Root, o.FH, o.Stateid, 7, []byte("after"), FileSync); err != nil {
		t.Fatalf("WRITE with the open stateid after the session was lost: %v", err)
	}
	buf := make([]byte, 64)
	n, _, err := c.Read(ctx, rpc.Root, o.FH, o.Stateid, 0, buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("before after")) {
		t.Fatalf("READ after the new session = %q, %v", buf[:n], err)
	}
	if err := c.CloseState(ctx, rpc.Root, o.FH, o.Stateid); err != nil {
		t.Fatalf("CLOSE with the open stateid after the session was lost: %v", err)
	}
	now := c.sess.Load()
	if now.id == old.id || now.clientID != old.clientID {
		t.Errorf("session %x client %x after recovery; before: session %x client %x (want a new session, same client id)",
			now.id, now.clientID, old.id, old.clientID)
	}
	if st := c.Stats(); st.Recoveries != 1 || reclaims.Load() != 0 {
		t.Errorf("%d recoveries and %d reclaims, want 1 and 0 (state was intact)", st.Recoveries, reclaims.Load())
	}
	if got, _ := os.ReadFile(filepath.Join(export, "kept")); string(got) != "before after" {
		t.Errorf("backing file holds %q", got)
	}
}

// TestSessionLostStateIntactScripted is the same against the scripted
// server, which also counts what the client sent: one new CREATE_SESSION,
// no reclaim, no RECLAIM_COMPLETE.
func TestSessionLostStateIntactScripted(t *testing.T) {
	f, o, c := fakeWithOpenFile(t)
	old := destroySessionAside(t, c)
	o.writeOld(t, c)
	if now := c.sess.Load(); now.id == old.id {
		t.Error("no new session after the old one was destroyed")
	}
	if got := o.calls.Load(); got != 0 {
		t.Errorf("Reclaim hook ran %d times, want 0", got)
	}
	for op, want := range map[string]int{"CREATE_SESSION": 2, "RECLAIM_COMPLETE": 1, "OPEN/CLAIM_PREVIOUS": 0} {
		if got := f.count(op); got != want {
			t.Errorf("server saw %d %s, want %d", got, op, want)
		}
	}
	if got := c.Stats().Recoveries; got != 1 {
		t.Errorf("%d recoveries, want 1", got)
	}
}

package fusefs

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

// DialTestSession starts a local target exporting export and returns a
// session to it over verified TLS, closed in t.Cleanup. Exported for the
// external tests of this package (helper_test.go); the internal ones
// drive fusefs without a kernel mount over the same kind of session.
func DialTestSession(t *testing.T, export string) *nfsclient.Client {
	t.Helper()
	return DialTestTarget(t, testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export }))
}

// DialTestTarget returns a new session (a client of its own, as another
// host would have) to tgt, closed in t.Cleanup.
func DialTestTarget(t *testing.T, tgt *localtarget.Target) *nfsclient.Client {
	t.Helper()
	d, err := tunnel.NewDialer(tunnel.Config{Addr: tgt.Addr(), ServerName: tgt.ServerName(), CAFile: tgt.CAFile(), Verify: 2, CheckHostname: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := nfsclient.Dial(ctx, nfsclient.Config{
		Dial:    d.DialContext,
		OwnerID: fmt.Sprintf("efs-fuse-fusefs-test/%s/%d", t.Name(), time.Now().UnixNano()),
		Logger:  zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatalf("session bring-up: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close session: %v", err)
		}
	})
	return c
}

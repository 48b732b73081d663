package nfsclient

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestExtraConnectionRefused: a server that will not bind a second
// connection to a session (BIND_CONN_TO_SESSION answered with an error
// other than "no such session") gets asked once per extra, not forever;
// the client warns and carries on over the primary.
func TestExtraConnectionRefused(t *testing.T) {
	f := newFakeServer()
	f.refuseBinds = true
	core, logs := observer.New(zap.WarnLevel)
	c := dialFake(t, f, Config{Connections: 3, Logger: zap.New(core)})
	for deadline := time.Now().Add(5 * time.Second); f.count("BIND_CONN_TO_SESSION refused") < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d binds refused after 5 s, want 2", f.count("BIND_CONN_TO_SESSION refused"))
		}
	}
	// Long enough for a retrying keeper to come back (its first backoff
	// is 50 ms).
	time.Sleep(300 * time.Millisecond)
	if n := f.count("BIND_CONN_TO_SESSION refused"); n != 2 {
		t.Errorf("%d binds refused, want 2: one per extra connection", n)
	}
	if n := c.Stats().Connections; n != 1 {
		t.Errorf("Stats().Connections = %d, want 1", n)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatalf("the primary connection after the refusals: %v", err)
	}
	if n := logs.FilterMessage("server refused an extra connection to the session; going on with fewer").Len(); n != 2 {
		t.Errorf("%d refusal warnings, want 2", n)
	}
}

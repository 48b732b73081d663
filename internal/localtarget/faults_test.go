package localtarget_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
)

// timedPing sends a NULL call on conn and returns how long the reply took.
func timedPing(t *testing.T, conn net.Conn, xid uint32) time.Duration {
	t.Helper()
	start := time.Now()
	if err := localtarget.NullPing(conn, xid); err != nil {
		t.Fatalf("NULL %d: %v", xid, err)
	}
	return time.Since(start)
}

func TestBlackhole(t *testing.T) {
	tg := testtarget.Start(t)
	conn := dialTLS(t, tg)
	timedPing(t, conn, 1) // the connection works before

	const d = 1500 * time.Millisecond
	tg.Blackhole(d)
	// NullPing's 5 s deadline is well beyond d: the call must be held, not lost.
	if took := timedPing(t, conn, 2); took < d-50*time.Millisecond {
		t.Errorf("NULL answered after %v inside a %v black hole", took, d)
	} else {
		t.Logf("NULL held %v by a %v black hole", took, d)
	}
	if took := timedPing(t, conn, 3); took > 500*time.Millisecond {
		t.Errorf("NULL took %v after the black hole ended", took)
	}
}

func TestBlackholeHealAndNewConnections(t *testing.T) {
	tg := testtarget.Start(t)
	conn := dialTLS(t, tg)
	tg.Blackhole(time.Minute)

	// A call in the black hole stays unanswered...
	replied := make(chan time.Time, 1)
	go func() {
		_ = localtarget.NullPing(conn, 1)
		replied <- time.Now()
	}()
	// ...and so does a new connection's TLS handshake, though TCP connects.
	raw, err := net.Dial("tcp", tg.Addr())
	if err != nil {
		t.Fatalf("TCP connect during the black hole: %v", err)
	}
	defer raw.Close()
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only the timing is tested
	hctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	herr := tc.HandshakeContext(hctx)
	cancel()
	if herr == nil {
		t.Error("TLS handshake completed inside the black hole")
	}
	select {
	case <-replied:
		t.Fatal("NULL answered inside the black hole")
	default:
	}
	healed := time.Now()
	tg.Heal()
	select {
	case at := <-replied:
		t.Logf("held call answered %v after Heal", at.Sub(healed))
	case <-time.After(5 * time.Second):
		t.Fatal("held call not answered after Heal")
	}
	timedPing(t, dialTLS(t, tg), 2) // new connections work again
}

func TestDelay(t *testing.T) {
	tg := testtarget.Start(t)
	conn := dialTLS(t, tg)
	base := timedPing(t, conn, 1)

	const latency = 150 * time.Millisecond
	tg.Delay(latency, time.Minute)
	// One chunk each way: a round trip gains about twice the latency.
	if took := timedPing(t, conn, 2); took < 2*latency-20*time.Millisecond || took > 2*latency+time.Second {
		t.Errorf("NULL with %v latency took %v (%v without)", latency, took, base)
	} else {
		t.Logf("NULL took %v with %v latency (%v without)", took, latency, base)
	}
	tg.Heal()
	if took := timedPing(t, conn, 3); took > 100*time.Millisecond+base {
		t.Errorf("NULL took %v after Heal", took)
	}

	// Faults end by themselves.
	tg.Delay(latency, 300*time.Millisecond)
	time.Sleep(400 * time.Millisecond)
	if took := timedPing(t, conn, 4); took > 100*time.Millisecond+base {
		t.Errorf("NULL took %v after the delay expired", took)
	}
}

func TestCloseDuringBlackhole(t *testing.T) {
	tg := testtarget.Start(t)
	conn := dialTLS(t, tg)
	tg.Blackhole(20 * time.Second)
	held := make(chan error, 1)
	go func() { held <- localtarget.NullPing(conn, 1) }()
	raw, err := net.Dial("tcp", tg.Addr()) // a connection stalled before its handshake
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	time.Sleep(200 * time.Millisecond) // let the call reach the front end
	start := time.Now()
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close took %v during a black hole", took)
	}
	select {
	case err := <-held:
		if err == nil {
			t.Error("held call answered although the target closed")
		}
	case <-time.After(5 * time.Second):
		t.Error("held call still pending after Close")
	}
}

// The front end counts the RPC calls it relays (the bench's round trips),
// over every connection, and the control socket reports the count.
func TestCallsCounted(t *testing.T) {
	tg := testtarget.Start(t)
	before := tg.Calls()
	a, b := dialTLS(t, tg), dialTLS(t, tg)
	timedPing(t, a, 1)
	timedPing(t, b, 2)
	timedPing(t, a, 3)
	if got := tg.Calls() - before; got != 3 {
		t.Errorf("%d calls counted for 3 NULL pings on two connections", got)
	}
}

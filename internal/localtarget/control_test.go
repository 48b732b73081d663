package localtarget_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
)

func TestControlSocket(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	tg := testtarget.Start(t, func(o *localtarget.Options) { o.StateDir = state })
	ctl, err := tg.ServeControl()
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if fi, err := os.Stat(ctl.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode: %v, %v; want 0600", fi.Mode(), err)
	}
	send := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return localtarget.SendControl(ctx, state, args)
	}

	conn := dialTLS(t, tg)
	if reply, err := send("delay", "100ms", "1m"); err != nil || !strings.Contains(reply, "latency 100ms") {
		t.Fatalf("delay: %q, %v", reply, err)
	}
	if took := timedPing(t, conn, 1); took < 180*time.Millisecond {
		t.Errorf("NULL took %v under a 100ms delay set through the socket", took)
	}
	if _, err := send("blackhole", "1s"); err != nil {
		t.Fatal(err)
	}
	if took := timedPing(t, conn, 2); took < 900*time.Millisecond {
		t.Errorf("NULL took %v in a 1s black hole set through the socket", took)
	}
	if _, err := send("heal"); err != nil {
		t.Fatal(err)
	}
	if took := timedPing(t, conn, 3); took > 100*time.Millisecond {
		t.Errorf("NULL took %v after heal", took)
	}
	pid := localtarget.GaneshaPID(tg)
	if reply, err := send("restart", "--kill"); err != nil || !strings.Contains(reply, "restarted") {
		t.Fatalf("restart: %q, %v", reply, err)
	}
	if localtarget.GaneshaPID(tg) == pid {
		t.Error("restart through the socket left the same ganesha")
	}
	if err := localtarget.NullPing(dialTLS(t, tg), 4); err != nil {
		t.Errorf("after restart: %v", err)
	}
	if reply, err := send("cut"); err != nil || reply != "cut 1 connection(s)" {
		t.Errorf("cut: %q, %v", reply, err)
	}
	for _, bad := range [][]string{{"blackhole"}, {"blackhole", "soon"}, {"frobnicate"}, {"restart", "--now"}} {
		if _, err := send(bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

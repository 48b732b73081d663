package localtarget_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

func dialTLS(t *testing.T, tg *localtarget.Target) net.Conn {
	t.Helper()
	cfg := tunnel.NewConfig(tg.Addr(), tg.ServerName())
	cfg.CAFile = tg.CAFile()
	d, err := tunnel.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.DialContext(context.Background())
	if err != nil {
		t.Fatalf("dial target: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestTarget(t *testing.T) {
	start := time.Now()
	tg := testtarget.Start(t)
	t.Logf("target ready in %v (ganesha pid %d, nfs %s, tls %s)", time.Since(start), localtarget.GaneshaPID(tg), tg.NFSAddr(), tg.Addr())

	t.Run("NullOverTLS", func(t *testing.T) {
		conn := dialTLS(t, tg)
		for xid := uint32(1); xid <= 3; xid++ { // several calls on one connection
			if err := localtarget.NullPing(conn, xid); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("NullPlain", func(t *testing.T) {
		conn, err := net.Dial("tcp", tg.NFSAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := localtarget.NullPing(conn, 7); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("CutConnections", func(t *testing.T) {
		conns := []net.Conn{dialTLS(t, tg), dialTLS(t, tg)}
		for i, c := range conns {
			if err := localtarget.NullPing(c, uint32(100+i)); err != nil {
				t.Fatal(err)
			}
		}
		if n := tg.CutConnections(); n != 2 {
			t.Errorf("CutConnections = %d, want 2", n)
		}
		for _, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("read after cut: %v, want EOF", err)
			}
		}
		if err := localtarget.NullPing(dialTLS(t, tg), 200); err != nil {
			t.Errorf("new connection after cut: %v", err)
		}
	})
	t.Run("MountCommand", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(tg.Addr())
		got := tg.MountCommand("/mnt/efs")
		want := "efs-fuse -o tls,cafile=" + tg.CAFile() + ",mounttargetip=127.0.0.1,mounttargetport=" + port +
			",region=us-east-1 fs-12345678:/ /mnt/efs"
		if got != want {
			t.Errorf("MountCommand =\n%s\nwant\n%s", got, want)
		}
		if tg.ServerName() != "fs-12345678.efs.us-east-1.amazonaws.com" {
			t.Errorf("ServerName = %q", tg.ServerName())
		}
	})
	t.Run("CloseStopsGanesha", func(t *testing.T) {
		pid := localtarget.GaneshaPID(tg)
		conn := dialTLS(t, tg)
		start := time.Now()
		if err := tg.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("Close took %v", time.Since(start))
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("ganesha pid %d still exists after Close (kill 0: %v)", pid, err)
		}
		select {
		case <-tg.Done():
		default:
			t.Error("Done not closed after Close")
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Error("client connection still open after Close")
		}
		if _, err := net.DialTimeout("tcp", tg.Addr(), time.Second); err == nil {
			t.Error("front end still accepting after Close")
		}
		if err := tg.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestTwoTargetsAtOnce(t *testing.T) {
	a := testtarget.Start(t)
	b := testtarget.Start(t, func(o *localtarget.Options) { o.FSID = "fs-abcdef01" })
	if a.NFSAddr() == b.NFSAddr() || a.Addr() == b.Addr() || a.CAFile() == b.CAFile() {
		t.Fatalf("targets share addresses or state: %s %s / %s %s", a.Addr(), a.NFSAddr(), b.Addr(), b.NFSAddr())
	}
	for _, tg := range []*localtarget.Target{a, b} {
		if err := localtarget.NullPing(dialTLS(t, tg), 1); err != nil {
			t.Errorf("%s: %v", tg.ServerName(), err)
		}
	}
	// Each CA is its own: a's CA must not vouch for b.
	cfg := tunnel.NewConfig(b.Addr(), b.ServerName())
	cfg.CAFile = a.CAFile()
	d, err := tunnel.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var te *tunnel.Error
	if _, err := d.DialContext(context.Background()); !errors.As(err, &te) || te.Kind != tunnel.KindUnknownAuthority {
		t.Errorf("dial b with a's CA: %v, want unknown authority", err)
	}
}

func TestDoneWhenGaneshaDies(t *testing.T) {
	tg := testtarget.Start(t)
	if err := syscall.Kill(localtarget.GaneshaPID(tg), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tg.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after ganesha was killed")
	}
}

func TestRestartReusesCA(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	a := testtarget.Start(t, func(o *localtarget.Options) { o.StateDir = state })
	caA, err := os.ReadFile(a.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := testtarget.Start(t, func(o *localtarget.Options) { o.StateDir = state })
	caB, err := os.ReadFile(b.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if string(caA) != string(caB) {
		t.Error("restart minted a new CA; clients' cafile would stop working")
	}
	conf, err := os.ReadFile(filepath.Join(state, "ganesha.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "Lease_Lifetime = 10;") {
		t.Errorf("ganesha.conf does not carry the lease:\n%s", conf)
	}
}

package watchdog

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/fallback"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func accepts(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close() // a probe: the relay dials nothing for it
	return true
}

// TestTunnelSupervision runs a real `efs-fuse tunnel` that makes its own
// client identity under a tunnel-mode state file and a scripted mount
// table: a killed tunnel is restarted on its port within 2 s from the
// state file's argv and issues a fresh certificate by itself; once the
// mount leaves the table, the tunnel gets SIGTERM after the consistency
// count and the grace period, and its state file and listed files
// (including the certificate directory) are removed.
func TestTunnelSupervision(t *testing.T) {
	bin := efsFuseBinary(t)
	stateDir, _ := isolate(t)
	mnt := t.TempDir()
	port := freePort(t)
	logFile := filepath.Join(stateDir, "tunnel.log")
	name := fallback.StateFileName("fs-12345678", mnt, port)
	certDir := fallback.CertDir(stateDir, name)
	certFile := filepath.Join(certDir, "certificate.pem")
	argv := fallback.TunnelArgv(bin, fallback.TunnelOptions{
		Listen: "127.0.0.1:" + strconv.Itoa(port), Target: "127.0.0.1:9", ServerName: "fs-12345678.efs.us-east-1.amazonaws.com",
		Verify: 0, LogFile: logFile, LogLevel: "INFO",
		FSID: "fs-12345678", KeyFile: filepath.Join(t.TempDir(), "privateKey.pem"), CertOut: certFile,
	})
	tun, err := fallback.StartProcess(argv, logFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tun.Stop() })
	// The first start creates the key (RSA-3072).
	waitFor(t, 15*time.Second, "tunnel accepting", func() bool { return accepts(port) })
	firstSerial := certSerial(t, certFile)
	st := &fallback.State{PID: tun.Pid(), Cmd: argv, Files: []string{logFile, certDir}, MountPoint: mnt, FSID: "fs-12345678",
		Mode: fallback.ModeTunnel, Port: port, DNSName: "fs-12345678.efs.us-east-1.amazonaws.com",
		MountTime: float64(time.Now().Add(-time.Minute).UnixNano()) / 1e9, Certificate: certFile}
	if err := fallback.WriteState(stateDir, name, st); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(stateDir, name)

	var mounted atomic.Bool
	mounted.Store(true)
	mountinfo := func() (string, error) {
		s := "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
		if mounted.Load() {
			s += "90 22 0:50 / " + mnt + " rw - nfs4 127.0.0.1:/ rw,port=" + strconv.Itoa(port) + "\n"
		}
		return s, nil
	}
	cfg := efsconfig.Default().Watchdog
	cfg.UnmountCountForConsistency, cfg.UnmountGracePeriodSec = 3, 1
	logs, logger := observe(t)
	w, err := Start(Options{StateDir: stateDir, Config: cfg, Logger: logger, PollInterval: 100 * time.Millisecond, MountInfo: mountinfo})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	waitFor(t, 2*time.Second, "health check", func() bool { return logs.FilterMessage("supervising mount").Len() > 0 })

	// Kill the tunnel: restarted on the same port.
	old := tun.Pid()
	if err := tun.Stop(); err != nil { // SIGTERM, reaped here so it is gone for sure
		t.Fatal(err)
	}
	var newPID int
	took := waitFor(t, 2*time.Second, "tunnel restarted", func() bool {
		cur, err := fallback.ReadState(statePath)
		if err != nil || cur.PID == old || !ProcessAlive(cur.PID) || !accepts(port) {
			return false
		}
		newPID = cur.PID
		return true
	})
	t.Logf("tunnel %d killed: restarted as %d and accepting on port %d after %v", old, newPID, port, took)
	if certSerial(t, certFile) == firstSerial {
		t.Error("the restarted tunnel did not issue a certificate of its own")
	}
	if fi, err := os.Stat(certFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("certificate file: %v, %v", fi, err)
	}

	// Unmount: nothing happens within the grace period, then SIGTERM and clean-up.
	mounted.Store(false)
	gone := time.Now()
	took = waitFor(t, 5*time.Second, "tunnel stopped after unmount", func() bool {
		_, serr := os.Stat(statePath)
		return !ProcessAlive(newPID) && errors.Is(serr, fs.ErrNotExist)
	})
	if took < time.Second {
		t.Fatalf("tunnel stopped %v after the unmount: inside the 1 s grace period", took)
	}
	for _, f := range []string{logFile, certDir} {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("listed file %s not removed: %v", f, err)
		}
	}
	if logs.FilterMessage("unmount confirmed: the tunnel stops after the grace period").Len() != 1 {
		t.Error("unmount confirmation not logged")
	}
	t.Logf("unmount to tunnel stopped and files removed: %v", time.Since(gone))
}

// certSerial is the serial of the PEM certificate at path.
func certSerial(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.Text(16)
}

// TestRemoveFilesCertDir: a listed directory goes with the files directly
// in it (a certificate and a leftover temporary file); one holding a
// subdirectory is left, with a warning, and nothing below is touched.
func TestRemoveFilesCertDir(t *testing.T) {
	dir := t.TempDir()
	certDir := filepath.Join(dir, "fs-1.mnt.a.20100+")
	nested := filepath.Join(dir, "other+")
	for _, d := range []string{certDir, filepath.Join(nested, "sub")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(certDir, "certificate.pem"), filepath.Join(certDir, ".certificate.pem.tmp123"),
		filepath.Join(nested, "sub", "keep")} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logs, log := observe(t)
	removeFiles(log, []string{certDir, nested, filepath.Join(dir, "gone")})
	if _, err := os.Stat(certDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("certificate directory not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(nested, "sub", "keep")); err != nil {
		t.Errorf("a file below a subdirectory was touched: %v", err)
	}
	if n := logs.FilterMessage("removing a file of an unmounted file system").Len(); n != 1 {
		t.Errorf("%d warnings, want 1 (for the directory with a subdirectory)", n)
	}
}

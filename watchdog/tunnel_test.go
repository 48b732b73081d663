package watchdog

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/internal/detached"
	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/fallback"
	"github.com/efs-fuse/efs-fuse/internal/mountstate"
	"github.com/efs-fuse/efs-fuse/internal/testca"
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
// client identity under a fallback-mode state file and a scripted mount
// table: a killed tunnel is restarted on its port within 2 s from the
// state file's argv and issues a fresh certificate by itself (SIGKILL, as
// the OOM killer does: the tunnel gets no chance to clean up); once the
// mount leaves the table, the tunnel gets SIGTERM after the consistency
// count and the grace period, and its state file and listed files
// (including the certificate directory) are removed.
func TestTunnelSupervision(t *testing.T) {
	bin := efsFuseBinary(t)
	stateDir, _ := isolate(t)
	mnt := t.TempDir()
	port := freePort(t)
	logFile := filepath.Join(stateDir, "tunnel.log")
	name := mountstate.FallbackFileName("fs-12345678", mnt, port)
	certDir := mountstate.CertDir(stateDir, name)
	certFile := filepath.Join(certDir, "certificate.pem")
	argv := fallback.TunnelArgv(bin, fallback.TunnelOptions{
		Listen: "127.0.0.1:" + strconv.Itoa(port), Target: "127.0.0.1:9", ServerName: "fs-12345678.efs.us-east-1.amazonaws.com",
		Verify: 0, LogFile: logFile, LogLevel: "INFO",
		FSID: "fs-12345678", KeyFile: filepath.Join(t.TempDir(), "privateKey.pem"), CertOut: certFile,
	})
	tun, err := detached.Start(argv, logFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tun.Stop() })
	// The first start creates the key (RSA-3072).
	waitFor(t, 15*time.Second, "tunnel accepting", func() bool { return accepts(port) })
	firstSerial := certSerial(t, certFile)
	st := &mountstate.Fallback{PID: tun.Pid(), PIDStart: startOf(t, tun.Pid()), Cmd: argv, Files: []string{logFile, certDir}, MountPoint: mnt, FSID: "fs-12345678",
		Mode: mountstate.ModeFallback, Port: port, DNSName: "fs-12345678.efs.us-east-1.amazonaws.com",
		MountTime: float64(time.Now().Add(-time.Minute).UnixNano()) / 1e9, Certificate: certFile}
	if err := mountstate.Write(stateDir, name, st); err != nil {
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

	// Kill the tunnel: restarted on the same port. The zombie is reaped
	// by the watchdog's liveness check (the tunnel is this process's child).
	old := tun.Pid()
	if err := unix.Kill(old, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var newPID int
	t.Cleanup(func() { killIfAlive(t, newPID) }) // if the test fails before the watchdog stops it
	took := waitFor(t, 2*time.Second, "tunnel restarted", func() bool {
		cur, err := mountstate.ReadFallback(statePath)
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
	removeFiles(log, dir, []string{certDir, nested, filepath.Join(dir, "gone")})
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

// TestTunnelHungKilled: a tunnel that stops relaying (SIGSTOP: alive,
// its port still completing handshakes in the kernel, but nothing read) is
// found by the health check, SIGKILLed after HealthTimeout and restarted
// on its port from the state file; the health check then passes again
// through the new tunnel. The health check here is a round trip through
// the tunnel to an echoing TLS target, standing in for statfs on the NFS
// mount (this kernel has no NFS client): like the kernel's call, it blocks
// while the tunnel does not relay.
func TestTunnelHungKilled(t *testing.T) {
	bin := efsFuseBinary(t)
	stateDir, _ := isolate(t)
	mnt := t.TempDir()
	port := freePort(t)
	const serverName = "fs-12345678.efs.us-east-1.amazonaws.com"
	target, caFile := startEchoTarget(t, serverName)
	logFile := filepath.Join(stateDir, "tunnel.log")
	name := mountstate.FallbackFileName("fs-12345678", mnt, port)
	certDir := mountstate.CertDir(stateDir, name)
	argv := fallback.TunnelArgv(bin, fallback.TunnelOptions{
		Listen: "127.0.0.1:" + strconv.Itoa(port), Target: target, ServerName: serverName, CAFile: caFile,
		Verify: 2, LogFile: logFile, LogLevel: "INFO",
		FSID: "fs-12345678", KeyFile: testca.ClientKeyFile(t), CertOut: filepath.Join(certDir, "certificate.pem"),
	})
	tun, err := detached.Start(argv, logFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tun.Stop() })
	old := tun.Pid()
	// Registered after Stop, so it runs first: a stopped process ignores
	// SIGTERM until continued, SIGKILL ends it at once.
	t.Cleanup(func() { killIfAlive(t, old) })
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(logFile); err == nil {
				t.Logf("tunnel log:\n%s", b)
			}
		}
	})
	waitFor(t, 15*time.Second, "tunnel accepting", func() bool { return accepts(port) })
	st := &mountstate.Fallback{PID: old, PIDStart: startOf(t, old), Cmd: argv, Files: []string{logFile, certDir}, MountPoint: mnt, FSID: "fs-12345678",
		Mode: mountstate.ModeFallback, Port: port, DNSName: serverName,
		MountTime: float64(time.Now().Add(-time.Minute).UnixNano()) / 1e9, Certificate: filepath.Join(certDir, "certificate.pem")}
	if err := mountstate.Write(stateDir, name, st); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(stateDir, name)

	var probesOK atomic.Int64
	probe := func(string) error {
		err := roundTrip(port, 30*time.Second)
		if err == nil {
			probesOK.Add(1)
		}
		return err
	}
	mountinfo := func() (string, error) {
		return "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n" +
			"90 22 0:50 / " + mnt + " rw - nfs4 127.0.0.1:/ rw,port=" + strconv.Itoa(port) + "\n", nil
	}
	const healthTimeout = time.Second
	logs, logger := observe(t)
	w, err := Start(Options{StateDir: stateDir, Config: efsconfig.Default().Watchdog, Logger: logger,
		PollInterval: 100 * time.Millisecond, MountInfo: mountinfo, Statfs: probe,
		Policy: func(p *Policy) {
			p.HealthCheck, p.HealthInterval, p.HealthTimeout = true, 200*time.Millisecond, healthTimeout
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The check passes through a working tunnel: it is not what hangs.
	waitFor(t, 10*time.Second, "a health check through the tunnel", func() bool { return probesOK.Load() > 0 })

	if err := unix.Kill(old, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	// Filtering copies the entries seen so far: filter anew each time.
	killed := func() *observer.ObservedLogs {
		return logs.FilterMessage("killing a hung tunnel").FilterField(zap.Int("pid", old))
	}
	waitFor(t, healthTimeout+5*time.Second, "hung tunnel killed", func() bool { return killed().Len() > 0 })
	t.Logf("tunnel %d stopped: killed by the watchdog after %v", old, time.Since(stopped))
	if want := fmt.Sprintf("health check: statfs did not return within %v", healthTimeout); killed().All()[0].ContextMap()["cause"] != want {
		t.Errorf("kill cause = %v, want %q", killed().All()[0].ContextMap()["cause"], want)
	}

	var newPID int
	t.Cleanup(func() { killIfAlive(t, newPID) })
	waitFor(t, 5*time.Second, "tunnel restarted after the kill", func() bool {
		cur, err := mountstate.ReadFallback(statePath)
		if err != nil || cur.PID == old || !ProcessAlive(cur.PID) || !accepts(port) {
			return false
		}
		newPID = cur.PID
		return true
	})
	if ProcessAlive(old) {
		t.Errorf("the hung tunnel %d is still alive", old)
	}
	// The new tunnel relays: a round trip here, and the watchdog's own
	// check, which ends the episode.
	if err := roundTrip(port, 5*time.Second); err != nil {
		t.Errorf("round trip through the restarted tunnel: %v", err)
	}
	waitFor(t, 5*time.Second, "recovery logged", func() bool { return logs.FilterMessage("tunnel recovered").Len() > 0 })
	t.Logf("stopped to recovered: %v (new tunnel %d)", time.Since(stopped), newPID)
	if n := killed().Len(); n != 1 {
		t.Errorf("hung tunnel killed %d times, want once", n)
	}
}

// roundTrip sends a few bytes through the tunnel on port and expects the
// echo target to return them, within limit.
func roundTrip(port int, limit time.Duration) error {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 2*time.Second)
	if err != nil {
		return fmt.Errorf("connect to the tunnel: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(limit))
	if _, err := c.Write([]byte("ping")); err != nil {
		return fmt.Errorf("write through the tunnel: %w", err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read through the tunnel: %w", err)
	}
	if string(got) != "ping" {
		return fmt.Errorf("echo = %q, want ping", got)
	}
	return nil
}

// startEchoTarget is a TLS server for serverName that echoes every byte,
// with its CA's certificate file for the tunnel to verify it with.
func startEchoTarget(t *testing.T, serverName string) (addr, caFile string) {
	t.Helper()
	cert, caFile := testca.ServerCert(t, serverName)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), caFile
}

// killIfAlive SIGKILLs a tunnel the test started (directly or through the
// watchdog) that is still running, and waits until it is gone, so no
// tunnel outlives the test.
func killIfAlive(t *testing.T, pid int) {
	if pid <= 0 || !ProcessAlive(pid) {
		return
	}
	if err := signal(pid, unix.SIGKILL); err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	for end := time.Now().Add(5 * time.Second); ProcessAlive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Errorf("cleanup: tunnel %d survived SIGKILL", pid)
			return
		}
	}
}

package fallbacke2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
)

// startDD starts dd copying src to dst (bs=1M, fsync at the end).
func startDD(t *testing.T, src, dst string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command("dd", "if="+src, "of="+dst, "bs=1M", "conv=fsync")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, &out
}

// waitDD waits for dd to end, at most d, and fails t if it reported an error.
func waitDD(t *testing.T, cmd *exec.Cmd, out *bytes.Buffer, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dd failed: %v\n%s", err, out)
		}
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("dd did not finish within %v:\n%s", d, out)
	}
}

// exportSize is the size of name in the export, 0 if it is not there yet.
func (e *guestEnv) exportSize(name string) int64 {
	fi, err := os.Stat(e.inExport(name))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// TestFallbackTunnelKilled: `kill -9` of the tunnel in the middle of a
// 256 MiB dd: the watchdog starts it again on the same port from the state
// file, the kernel client reconnects and resends, dd reports no error and
// the export holds every byte.
func TestFallbackTunnelKilled(t *testing.T) {
	if !inGuest(t, 10*time.Minute) {
		return
	}
	e := newGuestEnv(t)
	e.mount(t, "")
	before := theState(t).Fallback
	src := filepath.Join(t.TempDir(), "src")
	want := randomFile(t, src, bigSize, 2)
	dd, out := startDD(t, src, filepath.Join(e.mnt, "big"))
	waitFor(t, 3*time.Minute, "64 MiB to reach the export", func() bool { return e.exportSize("big") >= 64<<20 })
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 the tunnel (pid %d): %v", before.PID, err)
	}
	killed := time.Now()
	t.Logf("tunnel (pid %d, port %d) killed with %d MiB in the export", before.PID, before.Port, e.exportSize("big")>>20)
	waitFor(t, time.Minute, "the watchdog to restart the tunnel", func() bool {
		l := states(t)
		return len(l) == 1 && l[0].Fallback != nil && l[0].Fallback.PID != before.PID && l[0].Fallback.PID > 0 &&
			syscall.Kill(l[0].Fallback.PID, 0) == nil
	})
	after := theState(t).Fallback
	t.Logf("tunnel restarted as pid %d %v after the kill", after.PID, time.Since(killed).Round(time.Millisecond))
	if after.Port != before.Port {
		t.Errorf("tunnel restarted on port %d, want the mount's port %d", after.Port, before.Port)
	}
	waitDD(t, dd, out, 5*time.Minute)
	if got := fileSHA(t, e.inExport("big")); got != want {
		t.Fatalf("sha256 in the export %s after the tunnel was killed, want %s (%d bytes)", got, want, e.exportSize("big"))
	}
	if opts, _ := mountOptions(t, e.mnt); !strings.Contains(opts, ",port="+strconv.Itoa(before.Port)+",") {
		t.Errorf("mount options after the restart: %q", opts)
	}
	e.unmount(t)
}

// TestFallbackWrongServerName: a mount target whose certificate names
// another file system (here: another region's name) is refused; the mount
// fails, nothing is mounted, and no state file or tunnel is left.
func TestFallbackWrongServerName(t *testing.T) {
	if !inGuest(t, 4*time.Minute) {
		return
	}
	e := newGuestEnv(t)
	opts := strings.Replace(e.opts, "region=us-east-1", "region=us-west-2", 1)
	start := time.Now()
	out, err := run(t, binary, "-o", opts, "fs-12345678:/", e.mnt)
	t.Logf("mount failed after %v: %v\n%s", time.Since(start).Round(time.Millisecond), err, out)
	if err == nil {
		t.Fatalf("a mount target presenting a certificate for %s was accepted for us-west-2", e.tgt.ServerName())
	}
	if !strings.Contains(out, "certificate") || !strings.Contains(out, "fs-12345678.efs.us-west-2.amazonaws.com") {
		t.Errorf("the mount's error does not say that the certificate names another server:\n%s", out)
	}
	if _, ok := mountOptions(t, e.mnt); ok {
		t.Fatalf("%s is mounted after the refused certificate", e.mnt)
	}
	if l := states(t); len(l) != 0 {
		t.Errorf("state files left after the failed mount: %+v", l)
	}
	if pids := tunnelPIDs(t); len(pids) != 0 {
		t.Errorf("tunnel processes left after the failed mount: %v", pids)
	}
	logs, _ := filepath.Glob(filepath.Join(stateDir, "*.tunnel.log"))
	var refused bool
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		refused = refused || strings.Contains(string(b), "fs-12345678.efs.us-west-2.amazonaws.com")
	}
	if !refused {
		t.Errorf("no tunnel log names the refused server name %s", "fs-12345678.efs.us-west-2.amazonaws.com")
	}
}

// tunnelPIDs lists running `efs-fuse tunnel` processes of our binary.
func tunnelPIDs(t *testing.T) []int {
	t.Helper()
	var pids []int
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range cmdlines {
		b, err := os.ReadFile(c)
		args := strings.Split(string(b), "\x00")
		if err == nil && len(args) > 1 && args[0] == binary && args[1] == "tunnel" {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(c)))
			pids = append(pids, pid)
		}
	}
	return pids
}

const testAP = "fsap-0123456789abcdef0"

// TestFallbackIdentity: the tunnel presents the access point and the IAM
// signature the target requires, so the mount works and writes; without
// the access point the target refuses it and nothing is mounted.
func TestFallbackIdentity(t *testing.T) {
	if !inGuest(t, 5*time.Minute) {
		return
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
	} {
		t.Setenv(k, v) // inherited by efs-fuse and its tunnel
	}
	e := newGuestEnv(t, func(o *localtarget.Options) {
		o.RequireAccessPoint, o.RequireIAM = testAP, true
		o.IAMCredentials = map[string]string{"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	})
	refusedMnt := t.TempDir()
	if out, err := run(t, binary, "-o", e.opts+",iam", "fs-12345678:/", refusedMnt); err == nil {
		t.Errorf("mount without the access point the target requires succeeded:\n%s", out)
	}
	if _, ok := mountOptions(t, refusedMnt); ok {
		_ = syscall.Unmount(refusedMnt, syscall.MNT_DETACH)
		t.Fatalf("%s is mounted though the target refused the certificate", refusedMnt)
	}
	e.mount(t, ",iam,accesspoint="+testAP)
	if err := os.WriteFile(filepath.Join(e.mnt, "with-identity"), []byte("ap+iam\n"), 0o644); err != nil {
		t.Fatalf("write through the mount with access point and IAM: %v", err)
	}
	if b, err := os.ReadFile(e.inExport("with-identity")); err != nil || string(b) != "ap+iam\n" {
		t.Fatalf("export has %q, %v", b, err)
	}
	e.unmount(t)
}

// TestFallbackServerRestart: ganesha killed and restarted with a grace
// period (what `efs-fuse local-target fault restart --grace --kill` does)
// under a 64 MiB dd and a held lock: the kernel client recovers through
// the tunnel, reclaims its lock in the grace period (another owner is
// still refused after it), and dd ends without error, every byte in place.
func TestFallbackServerRestart(t *testing.T) {
	if !inGuest(t, 5*time.Minute) {
		return
	}
	e := newGuestEnv(t, testtarget.WithGraceSeconds(10))
	e.mount(t, "")
	locked := filepath.Join(e.mnt, "locked")
	if err := os.WriteFile(locked, []byte("held\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// flock(1) on NFS takes a whole-file lock on the server. -o: only
	// flock holds it, not the sleep it runs, so killing the group frees it.
	holder := exec.Command("flock", "-o", locked, "sleep", "600")
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	stopHolder := func() { _ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL); _ = holder.Wait() }
	t.Cleanup(stopHolder)
	waitFor(t, 30*time.Second, "flock to take its lock", func() bool { return errors.Is(tryLock(t, locked), unix.EAGAIN) })

	src := filepath.Join(t.TempDir(), "src")
	want := randomFile(t, src, 64<<20, 3)
	dd, out := startDD(t, src, filepath.Join(e.mnt, "during-restart"))
	waitFor(t, 2*time.Minute, "8 MiB to reach the export", func() bool { return e.exportSize("during-restart") >= 8<<20 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	restarted := time.Now()
	if err := e.tgt.RestartGanesha(ctx, localtarget.RestartOptions{Grace: true, Kill: true}); err != nil {
		t.Fatalf("restart ganesha: %v", err)
	}
	waitDD(t, dd, out, 3*time.Minute)
	t.Logf("dd done %v after the restart", time.Since(restarted).Round(time.Millisecond))
	if got := fileSHA(t, e.inExport("during-restart")); got != want {
		t.Fatalf("sha256 in the export %s after the restart, want %s", got, want)
	}
	// Past the grace period the lock is still the holder's: reclaimed.
	time.Sleep(time.Until(restarted.Add(15 * time.Second)))
	if err := tryLock(t, locked); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("after the restart and its grace period another owner's lock got %v, want EAGAIN (the holder's lock reclaimed)", err)
	}
	stopHolder()
	waitFor(t, 30*time.Second, "the lock to be free once its holder died", func() bool { return tryLock(t, locked) == nil })
	e.unmount(t)
}

// tryLock tries a write lock on the whole file from this process (its own
// lock owner) and lets it go again at once.
func tryLock(t *testing.T, path string) error {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
		return err
	}
	lk.Type = unix.F_UNLCK
	return unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
}

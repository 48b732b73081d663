package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/mountstate"
	"github.com/efs-fuse/efs-fuse/watchdog"
)

// crashAnswer is how soon an application blocked in the mount must get an
// answer once the serving process is killed: the kernel aborts a FUSE
// connection when its last /dev/fuse descriptor closes, within
// milliseconds, unless another process holds one.
const crashAnswer = 2 * time.Second

// TestServingProcessKilled: `kill -9` of the process serving a root mount
// (mount(2) directly) while a writer and a reader are blocked in requests
// behind a silent server. Both get an answer within crashAnswer, no
// process of ours but the serving one ever holds /dev/fuse (the watchdog
// the mount started above all), and the watchdog mounts again with a new
// serving process, the only holder of the new connection.
//
// On go-fuse's direct mount path /dev/fuse was opened without
// close-on-exec: the watchdog (started by the serving process) inherited
// the connection, kept it alive after the kill, and the blocked processes
// waited until the watchdog itself was stopped.
func TestServingProcessKilled(t *testing.T) {
	e := newRootEnv(t)
	if out, err := e.cmd(t, binary, "-o", e.options, "fs-12345678:/", e.mnt); err != nil {
		t.Fatalf("efs-fuse mount: %v\n%s", err, out)
	}
	pid := e.servingPID(t)
	conn := fuseConnection(t, e.mnt)
	// Runs before the children's own clean-up (which waits for them): if
	// the connection outlived the kill, requests already read by the dead
	// process wait for an answer no one gives, uninterruptibly (the
	// watchdog's own statfs probe among them, which keeps the watchdog's
	// descriptor, and so the connection, alive). Only an abort ends them.
	t.Cleanup(func() {
		if t.Failed() {
			abortConnection(t, conn)
			killProcessesOf(binary)
		}
	})
	var wd int
	waitUntil(t, 10*time.Second, "the watchdog the mount started", func() bool {
		running, p := watchdog.Running(e.state)
		wd = p
		return running && p > 0
	})
	if holders := fuseHolders(t); len(holders) != 1 || holders[0] != pid {
		t.Errorf("processes of efs-fuse holding /dev/fuse after the mount: %v, want only the serving process %d", holders, pid)
	}

	patternFile(t, filepath.Join(e.export, "readme"), 7, 2)
	reader := startChild(t, "reader", "read", filepath.Join(e.mnt, "readme"))
	writer := startChild(t, "writer", "writesync", filepath.Join(e.mnt, "written"))
	// Registered after the children, so it runs before their clean-up
	// (which waits for them) too.
	t.Cleanup(func() {
		if t.Failed() {
			abortConnection(t, conn)
			killProcessesOf(binary)
		}
	})
	reader.expect("READY", time.Minute)
	writer.expect("READY", time.Minute)
	e.tgt.Blackhole(2 * time.Minute)
	defer e.tgt.Heal()
	reader.say("read")
	writer.say("write")
	reader.expect("READING", 10*time.Second)
	writer.expect("WRITING", 10*time.Second)
	time.Sleep(time.Second)
	for _, c := range []*child{reader, writer} {
		select {
		case l := <-c.lines:
			t.Fatalf("%s answered %q inside the black hole: not blocked in a request", c.name, l.text)
		default:
		}
	}

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for _, c := range []*child{reader, writer} {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("%s ended without a word", c.name)
			}
			t.Logf("%s answered %v after the kill: %s", c.name, l.at.Sub(killed), l.text)
		case <-time.After(time.Until(killed.Add(crashAnswer))):
			t.Errorf("%s still blocked %v after the serving process was killed", c.name, crashAnswer)
		}
	}
	if fds := fuseFDs(wd); len(fds) > 0 {
		t.Errorf("the watchdog (pid %d) holds /dev/fuse on fds %v", wd, fds)
	}
	if t.Failed() {
		return
	}

	e.tgt.Heal()
	var newPID int
	waitUntil(t, 90*time.Second, "the watchdog's remount", func() bool {
		st, err := mountstate.ReadFUSE(filepath.Join(e.state, mountstate.FUSEFileName("fs-12345678", e.mnt)))
		if err != nil || st.PID == pid || !watchdog.ProcessAlive(st.PID) || !mounted(t, e.mnt) {
			return false
		}
		newPID = st.PID
		return true
	})
	statDone := make(chan error, 1)
	go func() { _, err := os.Stat(filepath.Join(e.mnt, "readme")); statDone <- err }()
	select {
	case err := <-statDone:
		if err != nil {
			t.Errorf("stat through the remounted file system: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("stat through the remounted file system did not return within 30 s")
	}
	if holders := fuseHolders(t); len(holders) != 1 || holders[0] != newPID {
		t.Errorf("processes of efs-fuse holding /dev/fuse after the remount: %v, want only the new serving process %d", holders, newPID)
	}
	if out, err := e.cmd(t, binary, "unmount", e.mnt); err != nil {
		t.Fatalf("efs-fuse unmount: %v\n%s", err, out)
	}
	waitExited(t, newPID, 30*time.Second)
}

// fuseFDs lists the descriptors of pid that are open on /dev/fuse.
func fuseFDs(pid int) []string {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	des, _ := os.ReadDir(dir)
	var out []string
	for _, de := range des {
		if l, err := os.Readlink(filepath.Join(dir, de.Name())); err == nil && l == "/dev/fuse" {
			out = append(out, de.Name())
		}
	}
	return out
}

// fuseHolders lists the processes running the test's efs-fuse binary that
// hold /dev/fuse (other engineers' mounts on this host run other binaries).
func fuseHolders(t *testing.T) []int {
	t.Helper()
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	var out []int
	for _, p := range exes {
		target, err := os.Readlink(p)
		if err != nil || strings.TrimSuffix(target, " (deleted)") != binary {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err == nil && len(fuseFDs(pid)) > 0 {
			out = append(out, pid)
		}
	}
	return out
}

// waitUntil polls cond every 50 ms until it holds, failing after within.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(within); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no %s within %v", what, within)
		}
	}
}

// runSyncWriter creates p, says READY, and on a line says WRITING, writes
// 1 MiB and fsyncs it, then says OK or ERROR with what failed.
func runSyncWriter(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Println("READY")
	bufio.NewScanner(os.Stdin).Scan()
	fmt.Println("WRITING")
	if _, err := f.Write(patternBase(3)[:1<<20]); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	fmt.Println("OK")
	return nil
}

// killProcessesOf SIGKILLs every process running exe, repeatedly for a
// second (a watchdog may be starting a mount command meanwhile).
func killProcessesOf(exe string) {
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		exes, _ := filepath.Glob("/proc/[0-9]*/exe")
		for _, p := range exes {
			target, err := os.Readlink(p)
			if err != nil || strings.TrimSuffix(target, " (deleted)") != exe {
				continue
			}
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// abortConnection aborts FUSE connection conn through fusectl, mounted in
// a mount namespace of its own so the host's mounts are not touched.
func abortConnection(t *testing.T, conn uint32) {
	script := fmt.Sprintf("mount -t fusectl none /sys/fs/fuse/connections && echo 1 > /sys/fs/fuse/connections/%d/abort", conn)
	if out, err := exec.Command("unshare", "-m", "sh", "-c", script).CombinedOutput(); err != nil {
		t.Logf("abort FUSE connection %d: %v: %s", conn, err, out)
	}
}

// fuseConnection is the fusectl number of the FUSE mount at mp: the minor
// device number, read from the mount table (a stat would be a FUSE request).
func fuseConnection(t *testing.T, mp string) uint32 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 || f[4] != mp {
			continue
		}
		if _, minor, ok := strings.Cut(f[2], ":"); ok {
			if n, err := strconv.ParseUint(minor, 10, 32); err == nil {
				return uint32(n)
			}
		}
	}
	t.Fatalf("%s is not in the mount table", mp)
	return 0
}

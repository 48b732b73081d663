package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/mountstate"
	"github.com/efs-fuse/efs-fuse/watchdog"
)

// TestSecondWatchdogExits: with one watchdog running for a state directory,
// another exits 0 at once saying so.
func TestSecondWatchdogExits(t *testing.T) {
	h := newHarness(t)
	dir := stateDir(h.deps)
	first := *h.deps
	first.Stdout, first.Stderr = &bytes.Buffer{}, &bytes.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"efs-fuse", "watchdog", "--config", h.cfg}, &first) }()
	deadline := time.Now().Add(5 * time.Second)
	for running, _ := watchdog.Running(dir); !running; running, _ = watchdog.Running(dir) {
		if time.Now().After(deadline) {
			t.Fatal("first watchdog did not take the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := run(context.Background(), []string{"efs-fuse", "watchdog", "--config", h.cfg}, h.deps); code != 0 {
		t.Fatalf("second watchdog: exit %d: %s", code, h.stderr)
	}
	if !strings.Contains(h.stdout.String(), "already running") {
		t.Fatalf("second watchdog said %q", h.stdout)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("first watchdog: exit %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first watchdog did not stop on cancel")
	}
	if running, _ := watchdog.Running(dir); running {
		t.Fatal("lock still held after the watchdog stopped")
	}
}

func writeFUSEState(t *testing.T, dir string, st mountstate.FUSE) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st.Mode, st.Cmd = mountstate.ModeFUSE, []string{"efs-fuse", st.FSID + ":/", st.MountPoint}
	if err := mountstate.Write(dir, mountstate.FUSEFileName(st.FSID, st.MountPoint), &st); err != nil {
		t.Fatal(err)
	}
}

func TestStatus(t *testing.T) {
	h := newHarness(t)
	status := func(args ...string) string {
		h.stdout.Reset()
		if code := run(context.Background(), append([]string{"efs-fuse", "status"}, args...), h.deps); code != 0 {
			t.Fatalf("status: exit %d: %s", code, h.stderr)
		}
		return h.stdout.String()
	}
	if out := status(); !strings.Contains(out, "No efs-fuse mounts") || !strings.Contains(out, "Watchdog: not running") {
		t.Fatalf("no mounts: %q", out)
	}

	dir := stateDir(h.deps)
	now := float64(time.Now().UnixNano()) / 1e9
	writeFUSEState(t, dir, mountstate.FUSE{PID: os.Getpid(), MountPoint: "/mnt/good", FSID: "fs-1", DNSName: "fs-1.efs.us-east-1.amazonaws.com",
		Connected: true, Connections: 4, Reconnects: 2, LastError: "connection reset by peer", LastErrorTime: now - 180, MountTime: now - 3600})
	writeFUSEState(t, dir, mountstate.FUSE{PID: 999999999, MountPoint: "/mnt/dead", FSID: "fs-2", DNSName: "fs-2.efs.us-east-1.amazonaws.com",
		Connected: true, MountTime: now - 60})
	if err := os.WriteFile(filepath.Join(dir, "fs-3.mnt.bad.fuse"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.mountinfo += "40 22 0:45 / /mnt/good rw - fuse.efs fs-1:/ rw\n41 22 0:46 / /mnt/dead rw - fuse.efs fs-2:/ rw\n"

	out := status()
	lines := strings.Split(out, "\n")
	find := func(mp string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, mp+" ") {
				return l
			}
		}
		t.Fatalf("no line for %s in\n%s", mp, out)
		return ""
	}
	good, dead := find("/mnt/good"), find("/mnt/dead")
	for _, want := range []string{"fs-1 (fs-1.efs.us-east-1.amazonaws.com)", "fuse x4", "(alive)", "healthy", " 2 ", "connection reset by peer (3m ago)"} {
		if !strings.Contains(good, want) {
			t.Errorf("healthy line %q lacks %q", good, want)
		}
	}
	if strings.Contains(dead, " x") {
		t.Errorf("a mount with one connection shows a count: %q", dead)
	}
	for _, want := range []string{"999999999 (dead)", "dead"} {
		if !strings.Contains(dead, want) {
			t.Errorf("dead line %q lacks %q", dead, want)
		}
	}
	if !strings.Contains(out, "unreadable") {
		t.Errorf("malformed state file not listed:\n%s", out)
	}
	t.Logf("efs-fuse status:\n%s", out)

	var js struct {
		Mounts   []watchdog.MountStatus `json:"mounts"`
		Watchdog struct{ Running bool } `json:"watchdog"`
	}
	if err := json.Unmarshal([]byte(status("--json")), &js); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, m := range js.Mounts {
		states[m.MountPoint] = m.State
		if m.MountPoint == "/mnt/good" && m.Connections != 4 {
			t.Errorf("json connections of /mnt/good: %d, want 4", m.Connections)
		}
	}
	if states["/mnt/good"] != watchdog.StateHealthy || states["/mnt/dead"] != watchdog.StateDead || len(js.Mounts) != 3 {
		t.Fatalf("json states %v (%d mounts)", states, len(js.Mounts))
	}
}

// TestUserWatchdogExitsAfterLastMount: a per-user watchdog keeps running
// while its state directory names a mount, and exits (status 0, lock
// released) once the last state file is gone; root's never does.
func TestUserWatchdogExitsAfterLastMount(t *testing.T) {
	h := newHarness(t)
	if err := os.WriteFile(h.cfg, []byte("[mount-watchdog]\npoll_interval_sec = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.deps.WatchdogIdleExit = 200 * time.Millisecond
	dir := stateDir(h.deps)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Any state file counts, even one the watchdog cannot read.
	state := filepath.Join(dir, "fs-3.mnt.x.fuse")
	if err := os.WriteFile(state, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { done <- run(t.Context(), []string{"efs-fuse", "watchdog", "--config", h.cfg}, h.deps) }()
	select {
	case code := <-done:
		t.Fatalf("the watchdog exited (%d) with a mount to supervise", code)
	case <-time.After(2500 * time.Millisecond): // two polls, ten idle periods
	}
	if running, _ := watchdog.Running(dir); !running {
		t.Fatal("watchdog not running")
	}
	if err := os.Remove(state); err != nil { // the unmount
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watchdog still runs 10 s after the last mount went")
	}
	if running, _ := watchdog.Running(dir); running {
		t.Error("lock still held")
	}
	if idleExit(&mountDeps{Euid: 0}) != 0 || idleExit(&mountDeps{Euid: 1000}) != userWatchdogIdle {
		t.Error("only a user's watchdog exits when idle")
	}
}

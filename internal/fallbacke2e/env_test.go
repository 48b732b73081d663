package fallbacke2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/mountstate"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/watchdog"
)

// stateDir is where the mount keeps its state, the default: in the guest
// it is a tmpfs of its own.
const stateDir = "/run/efs"

// guestEnv is a local target and a mount point in the guest.
type guestEnv struct {
	tgt    *localtarget.Target
	export string
	mnt    string
	// opts mount the target in fallback mode (add more with a comma).
	opts string
}

func newGuestEnv(t *testing.T, target ...func(*localtarget.Options)) *guestEnv {
	t.Helper()
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	tgt := testtarget.Start(t, append([]func(*localtarget.Options){func(o *localtarget.Options) { o.ExportDir = export }}, target...)...)
	i := strings.LastIndex(tgt.Addr(), ":")
	e := &guestEnv{tgt: tgt, export: export, mnt: t.TempDir(),
		opts: "tls,fallback,cafile=" + tgt.CAFile() + ",region=us-east-1,mounttargetip=" + tgt.Addr()[:i] + ",mounttargetport=" + tgt.Addr()[i+1:]}
	// Registered after the target's cleanup, so it runs first.
	t.Cleanup(func() { e.teardown(t) })
	return e
}

// teardown unmounts what a failed test left (lazily: the server may be
// gone) and stops the watchdog the mount started.
func (e *guestEnv) teardown(t *testing.T) {
	if t.Failed() {
		for _, name := range []string{"mount-watchdog.log", "mount.log"} {
			if b, err := os.ReadFile(filepath.Join("/var/log/amazon/efs", name)); err == nil {
				t.Logf("%s:\n%s", name, b)
			}
		}
	}
	if _, ok := mountOptions(t, e.mnt); ok {
		_ = syscall.Unmount(e.mnt, syscall.MNT_DETACH)
	}
	if running, pid := watchdog.Running(stateDir); running && pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	for _, s := range states(t) {
		if s.Fallback != nil && s.Fallback.PID > 0 {
			_ = syscall.Kill(s.Fallback.PID, syscall.SIGTERM)
		}
	}
}

// run runs a command (bounded to 3 minutes) and returns its combined output.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// mount mounts the target at e.mnt in fallback mode with e.opts+more.
func (e *guestEnv) mount(t *testing.T, more string) {
	t.Helper()
	start := time.Now()
	if out, err := run(t, binary, "-o", e.opts+more, "fs-12345678:/", e.mnt); err != nil {
		t.Fatalf("efs-fuse -o %s: %v\n%s", e.opts+more, err, out)
	}
	t.Logf("mounted in %v", time.Since(start).Round(time.Millisecond))
}

// unmount unmounts e.mnt with umount(8) and waits for the watchdog to stop
// the tunnel and remove the mount's state (it waits for
// unmount_grace_period_sec, 30 s from the mount, and 5 polls).
func (e *guestEnv) unmount(t *testing.T) {
	t.Helper()
	st := theState(t)
	if out, err := run(t, "umount", e.mnt); err != nil {
		t.Fatalf("umount: %v\n%s", err, out)
	}
	// The helper's timing, kept by the watchdog: an unmount is confirmed
	// no sooner than unmount_grace_period_sec (30 s) after the mount, and
	// the tunnel stopped 30 s after that, so up to a minute plus polls
	// after an unmount that came right after the mount.
	waitFor(t, 100*time.Second, "the watchdog to remove the state of the unmounted tunnel", func() bool {
		return len(states(t)) == 0
	})
	// Gone, not a zombie: kill(pid, 0) succeeds on a zombie.
	waitFor(t, 10*time.Second, fmt.Sprintf("the tunnel (pid %d) to exit after the unmount", st.Fallback.PID), func() bool {
		return syscall.Kill(st.Fallback.PID, 0) != nil
	})
	for _, f := range st.Fallback.Files {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s is left after the unmount", f)
		}
	}
}

// states lists the tunnel state files in stateDir.
func states(t *testing.T) []mountstate.Entry {
	t.Helper()
	all, err := mountstate.List(stateDir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("listing state files: %v", err)
	}
	var l []mountstate.Entry
	for _, e := range all {
		if e.Mode == mountstate.ModeFallback {
			l = append(l, e)
		}
	}
	return l
}

// theState is the one mount's state file.
func theState(t *testing.T) mountstate.Entry {
	t.Helper()
	l := states(t)
	if len(l) != 1 || l[0].Err != nil {
		t.Fatalf("want one tunnel state file in %s, got %+v", stateDir, l)
	}
	return l[0]
}

// mountOptions is the options of the mount at dir in /proc/self/mounts.
func mountOptions(t *testing.T, dir string) (string, bool) {
	t.Helper()
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) >= 4 && fields[1] == dir {
			return fields[2] + " " + fields[0] + " " + fields[3], true
		}
	}
	return "", false
}

// waitFor polls cond every 200 ms until it holds or d passed.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("waited %v for %s; processes:\n%s", d, what, processes())
		}
	}
}

// processes lists the guest's processes (pid, state, parent, command line), for a
// failure message.
func processes() string {
	var b strings.Builder
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		stat, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
		state, ppid := "?", "?"
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) >= 2 {
				state, ppid = f[0], f[1]
			}
		}
		fmt.Fprintf(&b, "%s %s ppid %s %s\n", filepath.Base(filepath.Dir(p)), state, ppid, strings.ReplaceAll(string(cmd), "\x00", " "))
	}
	return b.String()
}

// randomFile writes size pseudo-random bytes to path (outside any mount)
// and returns their sha256.
func randomFile(t *testing.T, path string, size int64, seed uint64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileSHA is the sha256 of a file's content.
func fileSHA(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// dropCaches empties the guest's page cache, so a read goes to the server.
func dropCaches(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		t.Fatalf("drop caches: %v", err)
	}
}

// inExport is path's counterpart in the export.
func (e *guestEnv) inExport(name string) string { return filepath.Join(e.export, name) }

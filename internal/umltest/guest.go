package umltest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// GuestEnv is set to "1" in the environment of a test binary the guest runs.
const GuestEnv = "EFS_FUSE_UMLTEST_GUEST"

// IsGuest reports whether this process runs inside a guest started by InGuest.
func IsGuest() bool { return os.Getenv(GuestEnv) == "1" }

// Option adjusts a guest run of InGuest.
type Option func(*guestRun)

type guestRun struct {
	timeout time.Duration
	memMiB  int
	env     []string
}

// Timeout bounds the guest run, boot to power-off (default DefaultTimeout,
// and never past the test binary's own deadline).
func Timeout(d time.Duration) Option { return func(g *guestRun) { g.timeout = d } }

// MemMiB sets the guest's RAM (default DefaultMemMiB).
func MemMiB(n int) Option { return func(g *guestRun) { g.memMiB = n } }

// Env adds KEY=VALUE to the guest test's environment (the host's is not
// passed on: the guest starts from PATH, HOME and TMPDIR).
func Env(kv ...string) Option { return func(g *guestRun) { g.env = append(g.env, kv...) } }

// InGuest, in a guest, returns true: the test goes on there. On the host it
// runs the calling test (t.Name(), alone) in a fresh guest, logs the
// guest's output through t, fails t if it failed there (or never ran),
// skips t if it skipped there or no guest can run here, and returns false:
// the caller returns at once.
func InGuest(t *testing.T, opts ...Option) bool {
	if IsGuest() {
		return true
	}
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
	g := guestRun{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&g)
	}
	if d, ok := t.Deadline(); ok && time.Until(d)-10*time.Second < g.timeout {
		g.timeout = time.Until(d) - 10*time.Second
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	exe := testBinary(t, wd)
	dir := t.TempDir()
	res, err := Boot(context.Background(), Job{
		Script:  testJob(wd, exe, t.Name(), g),
		Dir:     dir,
		Timeout: g.timeout,
		MemMiB:  g.memMiB,
	})
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("running %s in the guest: %v", t.Name(), err)
	}
	t.Logf("guest run of %s (%v, boot included):\n%s", t.Name(), res.Elapsed.Round(time.Millisecond), res.Output)
	out := string(res.Output)
	switch {
	case res.Status != 0:
		t.Fatalf("%s failed in the guest (exit status %d; its output is above)", t.Name(), res.Status)
	case strings.Contains(out, "--- SKIP: "+t.Name()+" "):
		t.Skipf("skipped in the guest: %s", skipReason(out, t.Name()))
	case !strings.Contains(out, "--- PASS: "+t.Name()+" "):
		t.Fatalf("the guest ran no test named %s (output above)", t.Name())
	}
	return false
}

// testJob is the guest's script: the test binary for this one test, in
// the package directory, verbose so its verdict can be read back.
func testJob(wd, exe, name string, g guestRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cd %s || exit 125\n", shellQuote(wd))
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=/root", "TMPDIR=/var/tmp", GuestEnv + "=1"}, g.env...)
	b.WriteString("exec env -i")
	for _, kv := range env {
		b.WriteString(" " + shellQuote(kv))
	}
	args := []string{exe, "-test.run", runPattern(name), "-test.count=1", "-test.v",
		"-test.timeout", (g.timeout - 20*time.Second).String()}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	for _, a := range args {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString("\n")
	return b.String()
}

// runPattern selects exactly the test (or subtest) name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// skipReason is the log under the test's "--- SKIP" line.
func skipReason(out, name string) string {
	_, after, _ := strings.Cut(out, "--- SKIP: "+name+" ")
	lines := strings.Split(after, "\n")
	var reason []string
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "    ") {
			break
		}
		reason = append(reason, strings.TrimSpace(l))
	}
	return strings.Join(reason, "; ")
}

// testBinary is the binary the guest runs: this one, unless it has the
// race detector; then a plain build of the same package into t's temp dir.
func testBinary(t *testing.T, wd string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("finding the test binary: %v", err)
	}
	if !raceBuild {
		return exe
	}
	out := filepath.Join(t.TempDir(), filepath.Base(exe))
	cmd := exec.Command("go", "test", "-c", "-o", out, ".")
	cmd.Dir = wd
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s without the race detector for the guest: %v\n%s", wd, err, b)
	}
	return out
}

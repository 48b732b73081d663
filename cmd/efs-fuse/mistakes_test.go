package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/daemon"
	"github.com/efs-fuse/efs-fuse/internal/logging"
)

// TestUnknownOptionRefused: a typo fails the mount with the option meant,
// instead of mounting without it (tsl: in plain text); -s lets it through
// with a warning.
func TestUnknownOptionRefused(t *testing.T) {
	h := newHarness(t)
	if code := h.run("efs-fuse", "fs-12345678:/", h.mnt, "-o", "tsl,bogusopt=1"); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := `Unknown mount option "tsl": it is neither an EFS nor an NFS option (did you mean "tls"?); mount -s (sloppy) mounts anyway and ignores it` + "\n"
	if got := h.stderr.String(); got != want {
		t.Errorf("stderr\n got %q\nwant %q", got, want)
	}
	if len(h.mounter.reqs) != 0 {
		t.Error("mounted with an unknown option")
	}

	h = newHarness(t)
	if code := h.run("mount.efs", "-s", "fs-12345678:/", h.mnt, "-o", "tls,bogusopt=1"); code != 0 {
		t.Fatalf("-s: exit %d; stderr %q", code, h.stderr)
	}
	if want := "mount.efs: warning: options ignored in FUSE mode: bogusopt=1\n"; h.stderr.String() != want {
		t.Errorf("-s: stderr %q, want %q", h.stderr, want)
	}
}

// TestWarningsOnStderr: what weakens the mount is said on the terminal,
// not only in mount.log; a plain TLS mount prints nothing.
func TestWarningsOnStderr(t *testing.T) {
	tests := []struct{ opts, want string }{
		{"mounttargetport=2050", "efs-fuse: warning: mounting without TLS: NFS traffic to the mount target is not encrypted (-o tls encrypts it)\n"},
		{"tls,verify=0", "efs-fuse: warning: TLS certificate verification is disabled (verify=0): the mount target is not authenticated\n"},
		{"tls,nolock,rdirplus", "efs-fuse: warning: options ignored in FUSE mode: nolock,rdirplus\n"},
		{"tls,hard,timeo=600", ""},
	}
	for _, tc := range tests {
		h := newHarness(t)
		if code := h.run("efs-fuse", "fs-12345678:/", h.mnt, "-o", tc.opts); code != 0 {
			t.Fatalf("%s: exit %d; stderr %q", tc.opts, code, h.stderr)
		}
		if got := h.stderr.String(); got != tc.want {
			t.Errorf("-o %s: stderr\n got %q\nwant %q", tc.opts, got, tc.want)
		}
		if msg := strings.TrimPrefix(strings.TrimSuffix(tc.want, "\n"), "efs-fuse: warning: "); msg != "" &&
			!strings.Contains(h.log(t), " - WARNING - "+msg+"\n") {
			t.Errorf("-o %s: mount.log lacks the warning:\n%s", tc.opts, h.log(t))
		}
	}
}

// TestConfigGivenMustExist: --config naming a missing file is a mistake;
// the default path may be missing (the defaults apply).
func TestConfigGivenMustExist(t *testing.T) {
	h := newHarness(t)
	missing := filepath.Join(h.base, "nonexistent.conf")
	code := run(t.Context(), []string{"efs-fuse", "fs-12345678:/", h.mnt, "-o", "tls", "--config", missing}, h.deps)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := "Configuration file " + missing + " (--config) cannot be read: no such file or directory\n"
	if h.stderr.String() != want {
		t.Errorf("stderr\n got %q\nwant %q", h.stderr, want)
	}
	if len(h.mounter.reqs) != 0 {
		t.Error("mounted without its configuration")
	}
}

// TestRelativePathsResolved: paths are read against the caller's working
// directory before the mount goes to the background (which leaves it), and
// the watchdog's remount command carries them absolute.
func TestRelativePathsResolved(t *testing.T) {
	h := newHarness(t)
	t.Chdir(h.base)
	if err := os.WriteFile("my.conf", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code := run(t.Context(), []string{"efs-fuse", "fs-12345678:/", "mnt", "-o", "tls,cafile=.demo/ca.pem",
		"-o", "iam,rolearn=arn:aws:iam::1:role/r,jwtpath=token", "--config", "my.conf", "-v"}, h.deps)
	if code != 0 {
		t.Fatalf("exit %d; stderr %q", code, h.stderr)
	}
	r := h.mounter.reqs[0]
	if r.Options.CAFile != filepath.Join(h.base, ".demo/ca.pem") || r.Options.JWTPath != filepath.Join(h.base, "token") {
		t.Errorf("cafile %q jwtpath %q, want them under %s", r.Options.CAFile, r.Options.JWTPath, h.base)
	}
	if r.Config.Path != filepath.Join(h.base, "my.conf") {
		t.Errorf("config %q", r.Config.Path)
	}
	want := []string{"fs-12345678:/", h.mnt, "-o", "tls,cafile=" + h.base + "/.demo/ca.pem,iam,rolearn=arn:aws:iam::1:role/r,jwtpath=" + h.base + "/token",
		"--config", h.base + "/my.conf", "-v"}
	if !slices.Equal(r.RemountArgs, want) {
		t.Errorf("remount args\n got %q\nwant %q", r.RemountArgs, want)
	}
}

// TestForegroundLogsToStderr: -f shows the log on the terminal (with -v,
// DEBUG lines too), warnings once.
func TestForegroundLogsToStderr(t *testing.T) {
	h := newHarness(t)
	if code := h.run("efs-fuse", "-f", "-v", "fs-12345678:/", h.mnt, "-o", "mounttargetport=2050"); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, h.stderr)
	}
	out := h.stderr.String()
	for _, want := range []string{" - DEBUG - mount requested - ", " - INFO - Successfully mounted fs-12345678.efs.us-east-1.amazonaws.com at " + h.mnt + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "mounting without TLS"); n != 1 {
		t.Errorf("the TLS warning is on stderr %d times, want once:\n%s", n, out)
	}
}

// TestFakeLabel: the dry run names the flag that asked for it.
func TestFakeLabel(t *testing.T) {
	h := newHarness(t)
	if code := h.run("efs-fuse", "--fake", "fs-12345678:/", h.mnt, "-o", "tls"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.HasPrefix(h.stdout.String(), "fake mount: nothing mounted (efs-fuse --fake)\n") {
		t.Errorf("stdout %q", h.stdout)
	}
}

// TestBackgroundChildDoesNotRepeatWarnings: the background child runs the
// same checks as its parent, which has already printed and logged them.
func TestBackgroundChildDoesNotRepeatWarnings(t *testing.T) {
	h := newHarness(t)
	t.Setenv(daemon.EnvMarker, "3")
	if code := h.run("efs-fuse", "fs-12345678:/", h.mnt, "-o", "mounttargetport=2050"); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, h.stderr)
	}
	if h.stderr.Len() != 0 || strings.Contains(h.log(t), "without TLS") {
		t.Errorf("the child warned again: stderr %q, log:\n%s", h.stderr, h.log(t))
	}
}

// TestFakeMountWarns: the dry run shows the warnings a mount would print.
func TestFakeMountWarns(t *testing.T) {
	h := newHarness(t)
	if code := h.run("mount.efs", "-f", "fs-12345678:/", h.mnt, "-o", "tls,verify=0"); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(h.stderr.String(), "mount.efs: warning: TLS certificate verification is disabled (verify=0)") {
		t.Errorf("stderr %q", h.stderr)
	}
}

// TestForegroundWithoutLogFile: a log file that cannot be opened still
// leaves -f's log on the terminal.
func TestForegroundWithoutLogFile(t *testing.T) {
	h := newHarness(t)
	h.deps.NewLogger = func(logging.LogConfig) (*zap.Logger, func(), error) {
		return nil, nil, errors.New("read-only file system")
	}
	if code := h.run("efs-fuse", "-f", "fs-12345678:/", h.mnt, "-o", "mounttargetport=2050"); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, h.stderr)
	}
	for _, want := range []string{"warning: not logging to a file: read-only file system\n", " - WARNING - mounting without TLS", " - INFO - Successfully mounted "} {
		if !strings.Contains(h.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, h.stderr)
		}
	}
}

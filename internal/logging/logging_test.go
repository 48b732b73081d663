package logging_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/logging"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                         { return c.t }
func (c fixedClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }

func newTestLogger(t *testing.T, cfg logging.LogConfig) (*zap.Logger, string) {
	t.Helper()
	cfg.Dir = t.TempDir()
	if cfg.FileName == "" {
		cfg.FileName = logging.MountLogName
	}
	l, closeFn, err := logging.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeFn)
	return l, filepath.Join(cfg.Dir, cfg.FileName)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLineFormat(t *testing.T) {
	// 01:26:27 UTC given in another zone: the log is always UTC.
	at := time.Date(2023, 1, 27, 2, 26, 27, 0, time.FixedZone("CET", 3600))
	l, path := newTestLogger(t, logging.LogConfig{Level: "INFO", MaxBytes: 1 << 20, FileCount: 10, Clock: fixedClock{at}})
	l.Info("Successfully mounted fs-12345678.efs.us-east-1.amazonaws.com at /mnt/efs")
	l.With(zap.String("fs_id", "fs-12345678")).Warn("slow server", zap.Int("attempt", 2))
	l.Error("boom")
	l.Debug("hidden at INFO")
	_ = l.Sync()
	want := "2023-01-27 01:26:27 UTC - INFO - Successfully mounted fs-12345678.efs.us-east-1.amazonaws.com at /mnt/efs\n" +
		"2023-01-27 01:26:27 UTC - WARNING - slow server - {\"fs_id\": \"fs-12345678\", \"attempt\": 2}\n" +
		"2023-01-27 01:26:27 UTC - ERROR - boom\n"
	got := readFile(t, path)
	if got != want {
		t.Errorf("log file:\n%s\nwant:\n%s", got, want)
	}
	// The grep the user guide tells users to run must find the line.
	re := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC - INFO - Successfully mounted fs-12345678\.efs\.us-east-1\.amazonaws\.com at /mnt/efs$`)
	if !re.MatchString(got) {
		t.Error("success line not grep-able")
	}
}

func TestLevels(t *testing.T) {
	tests := []struct {
		level     string
		debug     bool
		wantDebug bool
		wantInfo  bool
	}{
		{"DEBUG", false, true, true},
		{"INFO", false, false, true},
		{"WARNING", false, false, false},
		{"ERROR", true, true, true}, // -v wins
	}
	for _, tc := range tests {
		t.Run(tc.level, func(t *testing.T) {
			l, path := newTestLogger(t, logging.LogConfig{Level: tc.level, Debug: tc.debug, MaxBytes: 1 << 20})
			l.Debug("d")
			l.Info("i")
			_ = l.Sync()
			b, _ := os.ReadFile(path) // absent when nothing was logged
			got := string(b)
			if strings.Contains(got, "DEBUG - d") != tc.wantDebug || strings.Contains(got, "INFO - i") != tc.wantInfo {
				t.Errorf("level %s: file %q", tc.level, got)
			}
		})
	}
	if _, _, err := logging.New(logging.LogConfig{Dir: t.TempDir(), FileName: "x", Level: "LOUD"}); err == nil {
		t.Error("unknown level accepted")
	}
}

func TestRotationBySize(t *testing.T) {
	// lumberjack's unit is MiB, so rotation is checked at the helper's 1 MiB default.
	l, path := newTestLogger(t, logging.LogConfig{Level: "INFO", MaxBytes: 1 << 20, FileCount: 2})
	msg := strings.Repeat("x", 1000)
	for i := 0; i < 3000; i++ { // ~3 MiB: at least two rotations
		l.Info(msg)
	}
	_ = l.Sync()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var backups int
	for _, e := range entries {
		info, _ := e.Info()
		if info.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, over logging_max_bytes", e.Name(), info.Size())
		}
		if e.Name() != logging.MountLogName {
			backups++
		}
	}
	if backups == 0 {
		t.Fatalf("no rotated file in %v", entries)
	}
	// lumberjack prunes old backups asynchronously; wait for it to settle.
	deadline := time.Now().Add(5 * time.Second)
	for backups > 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		entries, _ = os.ReadDir(filepath.Dir(path))
		backups = len(entries) - 1
	}
	if backups > 2 {
		t.Errorf("%d rotated files kept, want at most logging_file_count=2", backups)
	}
}

func TestDirs(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name      string
		euid      int
		env       map[string]string
		log, stat string
	}{
		{"Root", 0, map[string]string{"HOME": "/root", "XDG_RUNTIME_DIR": "/run/user/0"}, "/var/log/amazon/efs", "/var/run/efs"},
		{"UserXDG", 1000, map[string]string{"HOME": "/home/u", "XDG_STATE_HOME": "/s", "XDG_RUNTIME_DIR": "/run/user/1000"},
			"/s/efs-fuse/log", "/run/user/1000/efs-fuse"},
		{"UserHome", 1000, map[string]string{"HOME": "/home/u"}, "/home/u/.local/state/efs-fuse/log", "/home/u/.local/state/efs-fuse/run"},
		{"RelativeXDGIgnored", 1000, map[string]string{"HOME": "/home/u", "XDG_STATE_HOME": "rel", "XDG_RUNTIME_DIR": "rel"},
			"/home/u/.local/state/efs-fuse/log", "/home/u/.local/state/efs-fuse/run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := logging.LogDir(tc.euid, env(tc.env)); got != tc.log {
				t.Errorf("LogDir = %s, want %s", got, tc.log)
			}
			if got := logging.StateDir(tc.euid, env(tc.env)); got != tc.stat {
				t.Errorf("StateDir = %s, want %s", got, tc.stat)
			}
		})
	}
}

func TestEnsureDirMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "efs")
	if err := logging.EnsureDir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("mode = %v, %v; want 0750", fi.Mode().Perm(), err)
	}
}

// TestConsole: with Console set (a foreground mount) every line the file
// gets reaches the terminal as well, at the same level and in the same form.
func TestConsole(t *testing.T) {
	var console strings.Builder
	at := time.Date(2023, 1, 27, 1, 26, 27, 0, time.UTC)
	l, path := newTestLogger(t, logging.LogConfig{Level: "INFO", Console: &console, Clock: fixedClock{at}})
	l.Warn("mounting without TLS")
	l.Debug("hidden at INFO")
	_ = l.Sync()
	want := "2023-01-27 01:26:27 UTC - WARNING - mounting without TLS\n"
	if got := readFile(t, path); got != want {
		t.Errorf("file %q, want %q", got, want)
	}
	if console.String() != want {
		t.Errorf("console %q, want %q", console.String(), want)
	}
}

func TestNamespaceSubdir(t *testing.T) {
	for _, tc := range []struct {
		initial bool
		mnt     string
		want    string
	}{
		{true, "mnt:[4026531841]", ""},
		{false, "mnt:[4026532310]", "mntns-4026532310"},
		{false, "", ""},
		{false, "mnt:[../x]", ""},
	} {
		if got := logging.NamespaceSubdir(tc.initial, tc.mnt); got != tc.want {
			t.Errorf("NamespaceSubdir(%v, %q) = %q, want %q", tc.initial, tc.mnt, got, tc.want)
		}
	}
}

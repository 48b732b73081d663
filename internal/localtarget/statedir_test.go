package localtarget

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenStateDir: a state directory others may write, one that is a
// symbolic link, one with a link where the target writes, and one already
// in use by a running target are refused, each saying why; today's target
// used them all (a second target overwrote the first one's key and config).
func TestOpenStateDir(t *testing.T) {
	good := filepath.Join(t.TempDir(), "state")
	lock, err := openStateDir(good)
	if err != nil {
		t.Fatalf("fresh state directory: %v", err)
	}
	if fi, err := os.Stat(good); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created state directory: %v, %v; want mode 0700", fi, err)
	}
	if _, err := openStateDir(good); err == nil || !strings.Contains(err.Error(), "another local target") {
		t.Errorf("second target on the same state: %v, want refused", err)
	}
	lock.Close()
	again, err := openStateDir(good)
	if err != nil {
		t.Fatalf("state directory after the first target stopped: %v", err)
	}
	again.Close()

	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(t.TempDir(), "planted")
	if err := os.Mkdir(planted, 0o700); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.Symlink(victim, filepath.Join(planted, "ganesha.conf")); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{open: "writable by group or others", link: "symbolic link", planted: "ganesha.conf in the state directory is a symbolic link"} {
		if l, err := openStateDir(dir); err == nil || !strings.Contains(err.Error(), want) {
			if l != nil {
				l.Close()
			}
			t.Errorf("openStateDir(%s) = %v, want %q", dir, err, want)
		}
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(t.TempDir(), "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if l, err := openStateDir(other); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			if l != nil {
				l.Close()
			}
			t.Errorf("state directory of another user: %v, want refused", err)
		}
	}
	if _, err := os.Lstat(victim); !os.IsNotExist(err) {
		t.Errorf("the link target %s was created: %v", victim, err)
	}
}

// TestWriteNoFollow: a write where a link was planted fails and leaves the
// link's target alone.
func TestWriteNoFollow(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "ganesha.conf")); err != nil {
		t.Fatal(err)
	}
	if err := writeNoFollow(filepath.Join(dir, "ganesha.conf"), []byte("x")); err == nil {
		t.Error("wrote through a symbolic link")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("link target now holds %q", b)
	}
}

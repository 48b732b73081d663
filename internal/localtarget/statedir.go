package localtarget

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockFileName in the state directory is held (flock) by the running
// target: a second target on the same state would overwrite the first
// one's key, certificates and ganesha config under it.
const lockFileName = "target.lock"

// stateEntries are what a target writes in its state directory. ganesha
// runs as root and the target writes keys: none of them may be a symbolic
// link, which would send a write (or ganesha's pid file) elsewhere.
var stateEntries = []string{
	"ca", "ca/ca.pem", "ca/ca-key.pem", "server.pem", "server-key.pem", "ganesha.conf",
	"ganesha.log", "ganesha.out", "ganesha.pid", "recovery", ControlSocketName,
}

// openStateDir makes dir (mode 0700) if it is missing and checks it is
// safe to keep a CA key and ganesha's files in: a real directory, not a
// symbolic link, owned by this user, writable by no one else, with no
// symbolic link where the target writes. It then takes the state lock,
// which the returned file holds until it is closed.
func openStateDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("local target: state directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("local target: state directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("local target: state directory: %w", err)
	}
	if err := checkStateDir(dir, fi); err != nil {
		return nil, err
	}
	for _, name := range stateEntries {
		if fi, err := os.Lstat(filepath.Join(dir, name)); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("local target: %s in the state directory is a symbolic link; the target never follows one there (remove it)", filepath.Join(dir, name))
		}
	}
	return lockStateDir(dir)
}

// checkStateDir says why dir (as Lstat described it) is not a safe state
// directory, or nil.
func checkStateDir(dir string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("local target: state directory %s is a symbolic link; give the real directory", dir)
	case !fi.IsDir():
		return fmt.Errorf("local target: state directory %s is not a directory", dir)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("local target: state directory %s is writable by group or others (mode %04o); it holds the CA key: chmod go-w it", dir, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("local target: state directory %s is owned by uid %d, not by uid %d running the target", dir, st.Uid, os.Geteuid())
	}
	return nil
}

// lockStateDir takes dir's lock without waiting and writes our pid in it.
func lockStateDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("local target: state lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(b))
			if _, perr := strconv.Atoi(holder); perr != nil {
				holder = "unknown"
			}
			return nil, fmt.Errorf("local target: another local target (pid %s) is running on state directory %s; stop it or use another --state", holder, dir)
		}
		return nil, fmt.Errorf("local target: state lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// writeNoFollow writes data to path (mode 0600), refusing to follow a
// symbolic link there.
func writeNoFollow(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

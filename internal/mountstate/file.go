package mountstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"syscall"
)

// tempFilePattern names the temporary file Write renames into place. It
// starts with "." and does not end in .<port>, so readers and port
// selection skip it.
const tempFilePattern = ".tmp-state-*"

// maxFileSize bounds what Read takes in: a state file is a few hundred
// bytes; a huge file in the state directory is not one.
const maxFileSize = 1 << 20

// Write writes v as indented JSON to dir/name through a temporary file and
// a rename, mode 0600 (it holds command lines, which can name key and
// credential files): a reader sees the old file or the new one, never
// half of one.
func Write(dir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state file %s: %w", name, err)
	}
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, tempFilePattern)
	if err != nil {
		return fmt.Errorf("write state file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write state file %s: %w", path, err)
	}
	return nil
}

// ErrUntrusted marks a state file that Read refuses to act on.
var ErrUntrusted = errors.New("untrusted state file")

// Read reads the state file at path into v. It refuses (ErrUntrusted) a
// symbolic link, anything but a regular file, a file owned by another user
// than this process's effective one and a file group or others may write:
// the watchdog signals the pid and deletes the files a state file names,
// so whoever can write one must be who the watchdog acts for. A file that
// is not JSON is an error naming it, never a panic.
func Read(path string, v any) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return fmt.Errorf("state file %s is a symbolic link: %w", path, ErrUntrusted)
	}
	if err != nil {
		return fmt.Errorf("read state file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read state file: %w", err)
	}
	if err := trusted(path, fi); err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return fmt.Errorf("read state file: %w", err)
	}
	if len(data) > maxFileSize {
		return fmt.Errorf("state file %s is malformed: larger than %d bytes", path, maxFileSize)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("state file %s is malformed: %w", path, err)
	}
	return nil
}

// trusted checks what Read requires of an open state file.
func trusted(path string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("state file %s is not a regular file: %w", path, ErrUntrusted)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("state file %s is writable by group or others (mode %04o): %w", path, fi.Mode().Perm(), ErrUntrusted)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("state file %s is owned by uid %d, not by uid %d that reads it: %w", path, st.Uid, os.Geteuid(), ErrUntrusted)
	}
	return nil
}

// checkPID refuses a pid that could not be signalled safely: kill(2)
// takes a pid_t, so 4294967295 would become -1, every process.
func checkPID(path string, pid int) error {
	if pid > math.MaxInt32 {
		return fmt.Errorf("state file %s is malformed: pid %d is out of range", path, pid)
	}
	return nil
}

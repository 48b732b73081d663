// Package statefile writes the JSON state files of mounts (tunnel mode and
// FUSE mode alike) atomically: a reader (the watchdog, `efs-fuse status`,
// port selection) sees the old file or the new one, never half of one. It
// also holds what reading one takes in both modes; each mode checks its
// own fields.
package statefile

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// WriteJSON writes v as indented JSON to dir/name through a temporary file
// and a rename. The temporary name starts with "." and does not end in
// .<port>, so concurrent readers and port selection skip it.
func WriteJSON(dir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state file %s: %w", name, err)
	}
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, ".tmp-state-*")
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

// ReadJSON reads the state file at path into v. A file that is not JSON is
// an error naming it, never a panic.
func ReadJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read state file: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("state file %s is malformed: %w", path, err)
	}
	return nil
}

// CheckPID refuses a pid from a state file that the watchdog could not
// signal safely: kill(2) takes a pid_t, so 4294967295 would become -1,
// every process.
func CheckPID(path string, pid int) error {
	if pid > math.MaxInt32 {
		return fmt.Errorf("state file %s is malformed: pid %d is out of range", path, pid)
	}
	return nil
}

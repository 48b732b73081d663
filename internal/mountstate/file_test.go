package mountstate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	type state struct {
		PID int    `json:"pid"`
		Cmd string `json:"cmd"`
	}
	if err := Write(dir, "fs-1.mnt", state{PID: 42, Cmd: "efs-fuse"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "fs-1.mnt")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	var got state
	if err := Read(path, &got); err != nil || got != (state{42, "efs-fuse"}) {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-state-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Read(path, &got); err == nil || !strings.Contains(err.Error(), "state file "+path+" is malformed") {
		t.Errorf("malformed file: %v", err)
	}
	if err := Read(filepath.Join(dir, "missing"), &got); !os.IsNotExist(err) && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	if err := checkPID(path, 4294967295); err == nil {
		t.Error("pid 4294967295 accepted: kill(2) would signal every process")
	}
	if err := checkPID(path, 1<<31-1); err != nil {
		t.Errorf("largest pid_t refused: %v", err)
	}
}

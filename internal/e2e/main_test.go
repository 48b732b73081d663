package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// binary is efs-fuse built once for the tests that run it as a command
// (unprivileged and user-namespace mounts), in a directory every user can
// reach.
var binary string

func TestMain(m *testing.M) {
	if os.Getenv(writerEnv) != "" {
		os.Exit(runWriter())
	}
	dir, err := os.MkdirTemp("", "efs-fuse-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = os.Chmod(dir, 0o755)
	binary = filepath.Join(dir, "efs-fuse")
	// Static, as shipped: the rootless container test runs it in an image
	// with nothing else.
	build := exec.Command("go", "build", "-o", binary, "../../cmd/efs-fuse")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build efs-fuse: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	// Unprivileged mounts start a per-user watchdog from this binary,
	// which outlives the mounts by design; these tests own them.
	stopProcessesOf(binary)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// stopProcessesOf sends SIGTERM to every process running the executable
// exe (watchdogs the tests' mounts started).
func stopProcessesOf(exe string) {
	pids, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, p := range pids {
		target, err := os.Readlink(p)
		if err != nil || strings.TrimSuffix(target, " (deleted)") != exe {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
}

package umltest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Kernel is the User-Mode Linux kernel binary (package user-mode-linux).
const Kernel = "/usr/bin/linux.uml"

// ModulesRoot holds the guest kernel's modules, one directory per version.
const ModulesRoot = "/usr/lib/uml/modules"

// memDir is where the guest's memory file lives: UML maps its RAM from a
// file in TMPDIR, and only a tmpfs makes that fast.
const memDir = "/dev/shm"

// ErrUnavailable is wrapped by every reason the guest cannot run here;
// tests skip on it.
var ErrUnavailable = errors.New("User-Mode Linux guest unavailable")

// Available reports why no guest can boot here, or nil: the kernel
// binary, its modules (overlay, nfs, fuse), a writable tmpfs for its
// memory, busybox (its power-off) and the boot script must be present.
func Available() error {
	if err := available(Kernel, ModulesRoot, memDir); err != nil {
		return err
	}
	for _, tool := range []string{"/bin/busybox", "modprobe", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s missing (apt-get install busybox-static kmod iproute2)", ErrUnavailable, tool)
		}
	}
	if _, err := Script(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// available checks the kernel, its modules and the memory directory.
func available(kernel, modulesRoot, memDir string) error {
	if _, err := os.Stat(kernel); err != nil {
		return fmt.Errorf("%w: %s missing (apt-get install user-mode-linux)", ErrUnavailable, kernel)
	}
	mods, _ := filepath.Glob(filepath.Join(modulesRoot, "*", "kernel", "fs", "overlayfs", "overlay.ko"))
	if len(mods) == 0 {
		return fmt.Errorf("%w: no guest kernel modules (overlay.ko) under %s", ErrUnavailable, modulesRoot)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(memDir, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		return fmt.Errorf("%w: %s is not a tmpfs (the guest's memory file lives there)", ErrUnavailable, memDir)
	}
	if unix.Access(memDir, unix.W_OK) != nil {
		return fmt.Errorf("%w: %s is not writable", ErrUnavailable, memDir)
	}
	return nil
}

// Script finds scripts/uml-run.sh, the guest's PID 1, in the module that
// contains the working directory (go test runs in the package's).
func Script() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the boot script: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "scripts", "uml-run.sh")
			if unix.Access(p, unix.X_OK) != nil {
				return "", fmt.Errorf("boot script %s missing or not executable", p)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("boot script: no go.mod above the working directory")
		}
		dir = parent
	}
}

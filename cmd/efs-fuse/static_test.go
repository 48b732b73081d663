package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestStaticBinaryRunsAlone builds the binary as `make build` does
// (CGO_ENABLED=0) and runs it in a chroot holding nothing but itself, as
// in a container image FROM scratch: no libc, no loader, no /etc.
func TestStaticBinaryRunsAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	root := t.TempDir()
	bin := filepath.Join(root, "efs-fuse")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	libs, _ := f.ImportedLibraries()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary names a program interpreter (dynamic loader)")
		}
	}
	f.Close()
	if len(libs) > 0 {
		t.Errorf("the binary needs shared libraries: %v", libs)
	}

	if os.Geteuid() != 0 {
		t.Skip("chroot needs root; the ELF checks above passed")
	}
	for _, args := range [][]string{{"--version"}, {"--help"}, {"unmount", "--help"}} {
		cmd := exec.Command("/efs-fuse", args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		cmd.Dir = "/"
		cmd.Env = []string{}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "efs-fuse") {
			t.Errorf("efs-fuse %s in an empty root: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

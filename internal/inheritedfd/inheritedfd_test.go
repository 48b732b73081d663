package inheritedfd

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary act as a freshly started process that
// closes what it inherited and lists what it still holds.
const helperEnv = "INHERITEDFD_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		closed, err := CloseInherited()
		if err != nil {
			os.Stdout.WriteString("ERROR " + err.Error() + "\n")
			os.Exit(1)
		}
		var held []string
		fds, _ := list()
		for _, fd := range fds {
			if l, err := os.Readlink(fdDir + "/" + strconv.Itoa(fd)); err == nil {
				held = append(held, l)
			}
		}
		os.Stdout.WriteString("closed " + strconv.Itoa(len(closed)) + "\nheld " + strings.Join(held, " ") + "\n")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCloseInherited: a descriptor left without close-on-exec crosses exec
// (as /dev/fuse did into the watchdog); the started process closes it and
// keeps nothing that names it.
func TestCloseInherited(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "leaked-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd) // a plain dup has no FD_CLOEXEC: it leaks into children
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "closed 0\n") {
		t.Errorf("helper output %q: want the leaked descriptor closed", out)
	}
	if strings.Contains(string(out), f.Name()) {
		t.Errorf("helper still holds %s after CloseInherited: %q", f.Name(), out)
	}
}

// TestCloseOnExec: a descriptor opened without O_CLOEXEC gets the flag;
// others are left as they are.
func TestCloseOnExec(t *testing.T) {
	path := t.TempDir() + "/target"
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY, 0) // no O_CLOEXEC, as go-fuse opens /dev/fuse
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	n, err := CloseOnExec(path)
	if err != nil || n != 1 {
		t.Fatalf("CloseOnExec = %d, %v; want 1 descriptor", n, err)
	}
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("flags after CloseOnExec = %#x, %v; want FD_CLOEXEC", flags, err)
	}
}

package fusefs_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// helperEnv, when set in the environment, makes the test binary run one
// system call sequence (helperOps) instead of the tests, so tests can make
// exact system calls as another user or as a process they kill, with no
// dependency on python or perl.
const helperEnv = "EFS_FUSE_SYSCALL_HELPER"

func TestMain(m *testing.M) {
	if op := os.Getenv(helperEnv); op != "" {
		os.Exit(runHelper(strings.Fields(op)))
	}
	code := m.Run()
	if helperDir != "" {
		os.RemoveAll(helperDir)
	}
	os.Exit(code)
}

// helperDir holds a copy of the test binary that uid 1000 may run (go
// test builds it in a 0700 directory); made on first use.
var (
	helperOnce sync.Once
	helperDir  string
	helperErr  error
)

// helperBinary returns the path of that copy.
func helperBinary() (string, error) {
	helperOnce.Do(func() {
		var b []byte
		if b, helperErr = os.ReadFile(os.Args[0]); helperErr != nil {
			return
		}
		if helperDir, helperErr = os.MkdirTemp("", "efs-fuse-helper-"); helperErr != nil {
			return
		}
		if helperErr = os.Chmod(helperDir, 0o755); helperErr != nil {
			return
		}
		helperErr = os.WriteFile(filepath.Join(helperDir, "helper"), b, 0o755)
	})
	return filepath.Join(helperDir, "helper"), helperErr
}

// errnoName is what the helper prints for the outcome of a system call:
// "ok" or the errno's name (EACCES).
func errnoName(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return err.Error()
}

// helperOps are the sequences the helper runs; each prints one line per
// system call it reports.
var helperOps = map[string]func(args []string){
	// open PATH FLAGS(octal): open(2) and close.
	"open": func(a []string) {
		flags, _ := strconv.ParseInt(a[1], 8, 64)
		fd, err := unix.Open(a[0], int(flags)|unix.O_NONBLOCK, 0)
		if err == nil {
			unix.Close(fd)
		}
		fmt.Println(errnoName(err))
	},
	// truncate PATH SIZE
	"truncate": func(a []string) {
		size, _ := strconv.ParseInt(a[1], 10, 64)
		fmt.Println(errnoName(unix.Truncate(a[0], size)))
	},
	// append PATH TEXT: open O_WRONLY|O_APPEND, write, close.
	"append": func(a []string) {
		f, err := os.OpenFile(a[0], os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			_, err = f.WriteString(a[1])
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		fmt.Println(errnoName(err))
	},
	// stat PATH
	"stat": func(a []string) {
		var st unix.Stat_t
		fmt.Println(errnoName(unix.Stat(a[0], &st)))
	},
	// unlink PATH
	"unlink": func(a []string) { fmt.Println(errnoName(unix.Unlink(a[0]))) },
	// rename FROM TO
	"rename": func(a []string) { fmt.Println(errnoName(unix.Rename(a[0], a[1]))) },
	// chmod PATH MODE(octal)
	"chmod": func(a []string) {
		mode, _ := strconv.ParseUint(a[1], 8, 32)
		fmt.Println(errnoName(unix.Chmod(a[0], uint32(mode))))
	},
	// chown PATH UID GID (-1 leaves one alone)
	"chown": func(a []string) {
		uid, _ := strconv.Atoi(a[1])
		gid, _ := strconv.Atoi(a[2])
		fmt.Println(errnoName(unix.Chown(a[0], uid, gid)))
	},
	// utimens PATH now|SECONDS: both times to now (UTIME_NOW), or to
	// SECONDS since the epoch.
	"utimens": func(a []string) {
		ts := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
		if a[1] != "now" {
			sec, _ := strconv.ParseInt(a[1], 10, 64)
			ts = []unix.Timespec{{Sec: sec}, {Sec: sec}}
		}
		fmt.Println(errnoName(unix.UtimesNanoAt(unix.AT_FDCWD, a[0], ts, 0)))
	},
	// lock PATH: a POSIX write lock on the whole file, "locked", then
	// hold it until stdin closes (or the process is killed).
	"lock": func(a []string) {
		fd, err := unix.Open(a[0], unix.O_RDWR, 0)
		if err == nil {
			lk := unix.Flock_t{Type: unix.F_WRLCK}
			err = unix.FcntlFlock(uintptr(fd), unix.F_SETLK, &lk)
		}
		if err != nil {
			fmt.Println(errnoName(err))
			return
		}
		fmt.Println("locked")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	},
	// regroup PATH GID: as root, become uid/gid 1000 in group GID and
	// read PATH, then (one process, one pid) drop the group and read
	// again.
	"regroup": func(a []string) {
		gid, _ := strconv.Atoi(a[1])
		// One thread throughout: FUSE sees a thread's id as the pid.
		runtime.LockOSThread()
		become := func(groups []int) error {
			if err := syscall.Setresuid(-1, 0, -1); err != nil { // back to euid 0 (saved uid)
				return err
			}
			if err := syscall.Setgroups(groups); err != nil {
				return err
			}
			if err := syscall.Setresgid(1000, 1000, 1000); err != nil {
				return err
			}
			return syscall.Setresuid(1000, 1000, 0)
		}
		for _, groups := range [][]int{{gid}, {}} {
			if err := become(groups); err != nil {
				fmt.Println("setup:", err)
				return
			}
			_, err := os.ReadFile(a[0])
			fmt.Println(errnoName(err))
		}
	},
}

func runHelper(op []string) int {
	f := helperOps[op[0]]
	if f == nil {
		fmt.Fprintln(os.Stderr, "unknown helper op", op[0])
		return 2
	}
	f(op[1:])
	return 0
}

// helper is the command that runs one helper sequence: as uid/gid 1000
// with no supplementary groups when asUID1000, else as root. Its working
// directory is outside the mount (go-fuse deadlock 1a).
func helper(t *testing.T, asUID1000 bool, op ...string) *exec.Cmd {
	t.Helper()
	bin, err := helperBinary()
	if err != nil {
		t.Fatalf("copying the test binary for the helper: %v", err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join(op, " "))
	cmd.Dir = "/"
	if asUID1000 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000, Groups: []uint32{}}}
	}
	return cmd
}

// helperSays runs a helper sequence to its end and returns its output
// lines. Paths must have no spaces.
func helperSays(t *testing.T, asUID1000 bool, op ...string) []string {
	t.Helper()
	return helperSaysAs(t, helper(t, asUID1000, op...), op)
}

// helperSaysInGroups is helperSays as uid 1000 with these supplementary
// groups.
func helperSaysInGroups(t *testing.T, groups []uint32, op ...string) []string {
	t.Helper()
	cmd := helper(t, true, op...)
	cmd.SysProcAttr.Credential.Groups = groups
	return helperSaysAs(t, cmd, op)
}

func helperSaysAs(t *testing.T, cmd *exec.Cmd, op []string) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run system calls as another user")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper %v: %v\n%s", op, err, out)
	}
	return strings.Fields(strings.TrimSpace(string(out)))
}

package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

// runMainEnv, when set, makes the test binary run Main with the arguments
// after "--" instead of tests: the real command line, signal handling
// included, in a process of its own the test can signal.
const runMainEnv = "EFS_FUSE_TEST_RUN_MAIN"

func TestRunMainHelper(t *testing.T) {
	if os.Getenv(runMainEnv) == "" {
		t.Skip("helper process of TestLocalTargetCommand")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Args = append([]string{"efs-fuse"}, args...)
	os.Exit(Main())
}

// TestLocalTargetCommand runs `efs-fuse local-target` as a process: it
// prints the CA file and a mount command that reaches it, SIGUSR1 cuts an
// open client connection, and SIGTERM stops ganesha and closes the port.
func TestLocalTargetCommand(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("local target needs root: FSAL VFS needs CAP_DAC_READ_SEARCH")
	}
	dir := t.TempDir() // under /tmp, ext4 here: FSAL VFS needs ext4/xfs
	state, mnt := filepath.Join(dir, "state"), "/mnt/efs-cmd-test"
	p := startMain(t, "local-target", "--export", filepath.Join(dir, "export"), "--state", state,
		"--listen", "127.0.0.1:0", "--mountpoint", mnt)

	addr := p.field(t, "TLS front end:")
	caFile := p.field(t, "CA file:")
	nfsAddr := p.field(t, "ganesha (plain NFSv4.1, loopback):")
	p.waitLine(t, "Mount it with:")
	mountCmd := p.waitLine(t, "")
	// The hint names this process, not `pidof efs-fuse` (every mount).
	p.waitLine(t, fmt.Sprintf("kill -USR1 %d cuts all client connections", p.cmd.Process.Pid))

	if !strings.HasPrefix(caFile, state+"/") {
		t.Errorf("CA file %s is not in the state dir %s", caFile, state)
	}
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("printed CA file: %v", err)
	}
	block, _ := pem.Decode(pemData)
	if block == nil {
		t.Fatalf("CA file %s holds no PEM block", caFile)
	}
	if ca, err := x509.ParseCertificate(block.Bytes); err != nil || !ca.IsCA {
		t.Fatalf("CA file %s: not a CA certificate (%v)", caFile, err)
	}
	host, port, _ := net.SplitHostPort(addr)
	want := fmt.Sprintf("efs-fuse -o tls,cafile=%s,mounttargetip=%s,mounttargetport=%s,region=%s %s:/ %s",
		caFile, host, port, localtarget.DefaultRegion, localtarget.DefaultFSID, mnt)
	if strings.TrimSpace(mountCmd) != want {
		t.Errorf("mount command\n  %s\nwant\n  %s", strings.TrimSpace(mountCmd), want)
	}

	pid := ganeshaPID(t, state)

	// A client connection over TLS, verified as the mount command would
	// (its CA file and address, the file system's name), through to
	// ganesha: a NULL call is answered.
	serverName := fmt.Sprintf("%s.efs.%s.%s", localtarget.DefaultFSID, localtarget.DefaultRegion, localtarget.DefaultDNSSuffix)
	cfg := tunnel.NewConfig(addr, serverName)
	cfg.CAFile = caFile
	d, err := tunnel.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := d.DialContext(ctx)
	if err != nil {
		t.Fatalf("dial the printed target: %v", err)
	}
	conn := rpc.NewConn(nc, rpc.Options{})
	defer conn.Close()
	null, err := rpc.Program{Prog: 100003, Vers: 4, Machine: "efs-fuse-test"}.EncodeCall(1, 0, rpc.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Call(ctx, null); err != nil {
		t.Fatalf("NULL through the target: %v", err)
	}

	p.signal(t, syscall.SIGUSR1)
	select {
	case <-conn.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("connection still open 10 s after SIGUSR1")
	}
	p.waitLine(t, "SIGUSR1: cut 1 client connection(s)")

	p.signal(t, syscall.SIGTERM)
	if err := p.wait(30 * time.Second); err != nil {
		t.Fatalf("local-target after SIGTERM: %v; stderr:\n%s", err, p.stderr())
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("ganesha (pid %d) still exists after the command stopped (kill 0: %v)", pid, err)
	}
	// ganesha's own log shows it shut down on SIGTERM rather than being
	// killed when its parent went away (it runs with a parent-death SIGKILL).
	if log, _ := os.ReadFile(filepath.Join(state, "ganesha.log")); !strings.Contains(string(log), "NFS EXIT: regular exit") {
		t.Errorf("ganesha did not exit cleanly; its log ends:\n%s", tail(string(log), 10))
	}
	for _, a := range []string{addr, nfsAddr} {
		if c, err := net.DialTimeout("tcp", a, 2*time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after SIGTERM", a)
		}
	}
}

// mainProcess is a running TestRunMainHelper child and its stdout lines.
type mainProcess struct {
	cmd     *exec.Cmd
	lines   chan string // closed at EOF
	errPath string
	exited  chan struct{}
	waitErr error    // valid once exited is closed
	seen    []string // lines read so far, for failure messages
}

func startMain(t *testing.T, args ...string) *mainProcess {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errPath := filepath.Join(t.TempDir(), "stderr")
	errFile, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestRunMainHelper$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stdout, cmd.Stderr = w, errFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close() // the child has its own copy; EOF comes when it exits
	p := &mainProcess{cmd: cmd, lines: make(chan string, 100), errPath: errPath, exited: make(chan struct{})}
	go func() {
		defer r.Close()
		s := bufio.NewScanner(r)
		for s.Scan() {
			p.lines <- s.Text()
		}
		close(p.lines)
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		// A test that failed half-way: stop the target the way a user
		// would, then for good (ganesha dies with it, parent-death signal).
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if p.wait(20*time.Second) != nil {
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitLine returns the next stdout line starting with prefix, skipping
// others; "" takes the next line.
func (p *mainProcess) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(60 * time.Second) // ganesha's startup on a loaded host
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("local-target ended before printing %q (printed %q); stderr:\n%s", prefix, p.seen, p.stderr())
			}
			p.seen = append(p.seen, l)
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("local-target did not print %q in time (printed %q); stderr:\n%s", prefix, p.seen, p.stderr())
		}
	}
}

// field returns the value after label on the next line that has it.
func (p *mainProcess) field(t *testing.T, label string) string {
	t.Helper()
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(p.waitLine(t, label)), label))
}

func (p *mainProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %v to local-target: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit error.
func (p *mainProcess) wait(d time.Duration) error {
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(d):
		return fmt.Errorf("still running after %v", d)
	}
}

func (p *mainProcess) stderr() string {
	b, _ := os.ReadFile(p.errPath)
	return tail(string(b), 30)
}

// ganeshaPID reads the pid file ganesha writes into the state dir and
// checks that the process is ganesha.
func ganeshaPID(t *testing.T, state string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "ganesha.pid"))
	if err != nil {
		t.Fatalf("ganesha pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("ganesha pid file holds %q", b)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || !strings.Contains(string(comm), "ganesha") {
		t.Fatalf("pid %d from ganesha.pid is %q (%v), not ganesha", pid, comm, err)
	}
	return pid
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
)

// TestServerRestartDuringWrite: ganesha is killed and restarted (with a
// real grace period) in the middle of a 64 MiB write by another process
// that holds the file open and locked. The writes complete, the data
// matches, and the lock is held again after the restart: another lock
// owner still sees the conflict.
//
// The writer is a separate process (this test binary in writer mode): the
// test process serves the FUSE mount and starts ganesha, and a file of the
// mount open here would be flushed by the fork/exec of the new ganesha,
// through a server that is waiting for that ganesha (go-fuse's documented
// fork deadlock; in production the two are different processes).
func TestServerRestartDuringWrite(t *testing.T) {
	r := mountRig(t, "", testtarget.WithGraceSeconds(10))
	p := filepath.Join(r.mnt, "restart")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), writerEnv+"="+p)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	expect := func(want string) string {
		t.Helper()
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), want) {
			t.Fatalf("writer said %q, want %q (%v)", lines.Text(), want, lines.Err())
		}
		return lines.Text()
	}
	expect("HALF")
	start := time.Now()
	if err := r.tgt.RestartGanesha(context.Background(), localtarget.RestartOptions{Grace: true, Kill: true}); err != nil {
		t.Fatalf("restart ganesha: %v", err)
	}
	t.Logf("ganesha killed and restarted with grace in %v, after 32 MiB", time.Since(start))
	fmt.Fprintln(stdin, "go")
	done := expect("DONE")
	t.Logf("writer: %s", done)
	var want [32]byte
	if _, err := hex.Decode(want[:], []byte(strings.Fields(done)[1])); err != nil {
		t.Fatal(err)
	}
	if got := fileSum(t, filepath.Join(r.export, "restart")); got != want {
		t.Fatal("backing file differs from what was written across the restart")
	}
	// Another lock owner (an OFD lock on another open file) must still
	// conflict with the writer's reclaimed POSIX lock.
	g, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	probe := syscall.Flock_t{Type: syscall.F_WRLCK, Start: 0, Len: 1}
	err = syscall.FcntlFlock(g.Fd(), 37 /* F_OFD_SETLK */, &probe)
	g.Close()
	if !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("taking the writer's locked range as another owner after the restart: %v, want EAGAIN (lock reclaimed)", err)
	}
	fmt.Fprintln(stdin, "exit")
	expect("BYE")
}

// writerEnv switches the test binary into the writer of
// TestServerRestartDuringWrite.
const writerEnv = "EFS_FUSE_E2E_WRITER"

// runWriter opens and locks the file, writes 32 MiB, says HALF, waits for
// a line, writes 32 MiB more, fsyncs, says DONE <sha256>, and keeps the
// file open and locked until told to exit.
func runWriter() int {
	fail := func(err error) int { fmt.Println("ERROR", err); return 1 }
	f, err := os.OpenFile(os.Getenv(writerEnv), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fail(err)
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Start: 0, Len: 4096}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		return fail(err)
	}
	in := bufio.NewScanner(os.Stdin)
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{9})
	block := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		if i == 32 {
			fmt.Println("HALF")
			in.Scan()
		}
		_, _ = io.ReadFull(src, block)
		h.Write(block)
		if _, err := f.Write(block); err != nil {
			return fail(fmt.Errorf("write of block %d: %w", i, err))
		}
	}
	start := time.Now()
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("fsync: %w", err))
	}
	fmt.Printf("DONE %x fsync=%v\n", h.Sum(nil), time.Since(start))
	in.Scan()
	f.Close()
	fmt.Println("BYE")
	return 0
}

// TestBlackholeHardMount: with the server black-holed for 20 s, a read on
// a hard mount waits, then succeeds.
func TestBlackholeHardMount(t *testing.T) {
	r := mountRig(t, "")
	p := filepath.Join(r.mnt, "f")
	if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	r.tgt.Blackhole(20 * time.Second)
	start := time.Now()
	out, err := exec.Command("dd", "if="+p, "of=/dev/null", "bs=1M", "iflag=direct", "status=none").CombinedOutput()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("read on a hard mount during a black hole: %v\n%s", err, out)
	}
	if took < 19*time.Second {
		t.Fatalf("read returned after %v, inside the 20 s black hole", took)
	}
	t.Logf("read on a hard mount waited %v for a 20 s black hole, then succeeded", took)
}

// TestSoftMountTimeout: on a soft mount (timeo=20, retrans=1: a 4 s bound)
// a read during a black hole fails with EIO after the bound, not before,
// and the mount works again once the server answers.
func TestSoftMountTimeout(t *testing.T) {
	r := mountRig(t, "soft,timeo=20,retrans=1")
	p := filepath.Join(r.mnt, "f")
	if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	r.tgt.Blackhole(12 * time.Second)
	start := time.Now()
	out, err := exec.Command("dd", "if="+p, "of=/dev/null", "bs=1M", "iflag=direct", "status=none").CombinedOutput()
	took := time.Since(start)
	if err == nil || !strings.Contains(string(out), "Input/output error") {
		t.Fatalf("read on a soft mount during a black hole: %v\n%s", err, out)
	}
	if took < 4*time.Second || took > 11*time.Second {
		t.Fatalf("soft read failed after %v, want after the 4 s bound and before the black hole ends", took)
	}
	t.Logf("soft read failed with EIO after %v (bound 4 s)", took)
	r.tgt.Heal()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("dd", "if="+p, "of=/dev/null", "bs=1M", "iflag=direct", "status=none").CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the soft mount did not recover after the black hole: %v\n%s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

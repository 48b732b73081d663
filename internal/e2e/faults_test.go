package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	encbin "encoding/binary" // "binary" is the efs-fuse executable here
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
)

// TestServerRestartDuringWrite: ganesha is killed and restarted (with a
// real grace period) in the middle of a 512 MiB write and a 64 MiB write,
// while two more files are held open: one read-only with a POSIX read
// lock, one with a flock lock. The writes complete, every file matches its
// source on the mount and in the export, the held files read back through
// their old descriptors, and every lock is held again after the grace
// period: another owner is refused on each file.
//
// The writers and the holder are separate processes (this test binary in
// a child mode, see runWriter): the test process serves the FUSE mount and
// starts ganesha, and a file of the mount open here would be flushed by
// the fork/exec of the new ganesha, through a server that is waiting for
// that ganesha (go-fuse's documented fork deadlock; in production the two
// are different processes).
func TestServerRestartDuringWrite(t *testing.T) {
	const grace = 10 // seconds; also how long a probe during grace waits
	r := mountRig(t, "", testtarget.WithGraceSeconds(grace))
	type file struct {
		name string
		mib  int
		seed byte
		lock string // the writer's lock: a POSIX or an OFD write lock
	}
	written := []file{{"big", 512, 1, "posix"}, {"second", 64, 2, "ofd"}}
	// The held files are made in the export, so nothing of them is
	// cached by the kernel or fusefs before the restart.
	roSum := patternFile(t, filepath.Join(r.export, "held-ro"), 3, 8)
	flockSum := patternFile(t, filepath.Join(r.export, "held-flock"), 4, 8)
	holder := startChild(t, "holder", "hold", filepath.Join(r.mnt, "held-ro"), filepath.Join(r.mnt, "held-flock"))
	holder.expect("READY", time.Minute)
	var writers []*child
	for _, f := range written {
		writers = append(writers, startChild(t, f.name, "write", filepath.Join(r.mnt, f.name),
			strconv.Itoa(f.mib), strconv.Itoa(int(f.seed)), f.lock))
	}
	for _, w := range writers {
		w.expect("HALF", 2*time.Minute)
	}
	// The writers resume as ganesha dies: the rest of their data (more
	// than the write-behind window) can only land on the new server.
	for _, w := range writers {
		w.say("go")
	}
	start := time.Now()
	if err := r.tgt.RestartGanesha(context.Background(), localtarget.RestartOptions{Grace: true, Kill: true}); err != nil {
		t.Fatalf("restart ganesha: %v", err)
	}
	restarted := time.Now()
	t.Logf("ganesha killed and restarted with a %d s grace period in %v, half way through the writes", grace, restarted.Sub(start))
	for i, w := range writers {
		done := w.expect("DONE", 3*time.Minute)
		t.Logf("%s: %s, %v after the restart", written[i].name, done.text, done.at.Sub(restarted))
		if !done.at.After(restarted) {
			t.Fatalf("%s finished before ganesha was back: the restart was not in the middle of its write", written[i].name)
		}
		want := patternSum(written[i].seed, written[i].mib)
		if got := strings.Fields(done.text)[1]; got != hex.EncodeToString(want[:]) {
			t.Fatalf("%s: the writer wrote sha256 %s, want %x", written[i].name, got, want)
		}
	}

	// Another owner is refused on every file: the locks were reclaimed.
	// Probed once the grace period is over for sure, when nothing holds
	// a lock but what was reclaimed in it.
	time.Sleep(time.Until(restarted.Add(grace * time.Second)))
	probeStart := time.Now()
	for _, p := range []struct {
		name  string
		flock bool
	}{{"big", false}, {"second", false}, {"held-ro", false}, {"held-flock", true}} {
		if err := otherOwnerLock(filepath.Join(r.mnt, p.name), p.flock); !errors.Is(err, syscall.EAGAIN) {
			t.Errorf("another owner locking %s after the restart: %v, want EAGAIN (the lock was reclaimed)", p.name, err)
		}
	}
	t.Logf("lock probes refused in %v, %v after the restart", time.Since(probeStart), time.Since(restarted))

	// The held descriptors still work: both files read back through them.
	holder.say("check")
	sums := strings.Fields(holder.expect("SUMS", time.Minute).text)
	if sums[1] != hex.EncodeToString(roSum[:]) || sums[2] != hex.EncodeToString(flockSum[:]) {
		t.Errorf("files held open across the restart read back as %v, want %x %x", sums[1:], roSum, flockSum)
	}
	// O_DIRECT: what the server has, not the page cache.
	for _, f := range written {
		want := patternSum(f.seed, f.mib)
		if fileSum(t, filepath.Join(r.export, f.name)) != want {
			t.Errorf("%s: the backing file differs from what was written across the restart", f.name)
		}
		if fileSumDirect(t, filepath.Join(r.mnt, f.name)) != want {
			t.Errorf("%s: the file read back through the mount differs from what was written", f.name)
		}
	}
	for name, want := range map[string][32]byte{"held-ro": roSum, "held-flock": flockSum} {
		if fileSum(t, filepath.Join(r.export, name)) != want || fileSumDirect(t, filepath.Join(r.mnt, name)) != want {
			t.Errorf("%s changed across the restart", name)
		}
	}
	for _, c := range append(writers, holder) {
		c.say("exit")
		c.expect("BYE", time.Minute)
	}
}

// otherOwnerLock tries, as a new lock owner, to take a write lock on the
// first byte of p (an OFD lock), or a flock lock: EAGAIN when someone
// holds a conflicting lock. It closes p before returning.
func otherOwnerLock(p string, useFlock bool) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if useFlock {
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	probe := syscall.Flock_t{Type: syscall.F_WRLCK, Start: 0, Len: 1}
	return syscall.FcntlFlock(f.Fd(), fOFDSetlk, &probe)
}

// fOFDSetlk is F_OFD_SETLK, which package syscall does not name.
const fOFDSetlk = 37

// Helper processes. TestMain runs runWriter when writerEnv is set: this
// test binary then acts as the application the test needs, in the mode
// named by childModeEnv, on the file writerEnv names, and talks to the
// test one line at a time over stdin and stdout.
const (
	writerEnv    = "EFS_FUSE_E2E_WRITER"
	childModeEnv = "EFS_FUSE_E2E_CHILD"
)

// child is a running helper process.
type child struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.Writer
	lines chan childLine // its stdout, closed when it ends
}

// childLine is one line a child wrote and when the test read it.
type childLine struct {
	text string
	at   time.Time
}

// startChild starts this test binary as a helper in mode on path, with
// args; Cleanup kills it if it is still running.
func startChild(t *testing.T, name, mode, path string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), writerEnv+"="+path, childModeEnv+"="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	c := &child{t: t, name: name, cmd: cmd, stdin: stdin, lines: make(chan childLine, 16)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- childLine{sc.Text(), time.Now()}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return c
}

func (c *child) say(line string) {
	c.t.Helper()
	if _, err := fmt.Fprintln(c.stdin, line); err != nil {
		c.t.Fatalf("tell %s %q: %v", c.name, line, err)
	}
}

// expect waits up to timeout for the child's next line, which must start
// with want.
func (c *child) expect(want string, timeout time.Duration) childLine {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("%s ended before saying %q", c.name, want)
		}
		if !strings.HasPrefix(l.text, want) {
			c.t.Fatalf("%s said %q, want %q", c.name, l.text, want)
		}
		return l
	case <-time.After(timeout):
		c.t.Fatalf("%s said nothing for %v, want %q", c.name, timeout, want)
	}
	return childLine{}
}

// runWriter runs the helper mode childModeEnv names and returns the exit
// code.
func runWriter() int {
	fail := func(err error) int { fmt.Println("ERROR", err); return 1 }
	var err error
	switch mode := os.Getenv(childModeEnv); mode {
	case "write":
		err = runPatternWriter(os.Getenv(writerEnv), os.Args[1:])
	case "hold":
		err = runHolder(os.Getenv(writerEnv), os.Args[1:])
	case "read":
		err = runReader(os.Getenv(writerEnv), os.Args[1:])
	case "writesync":
		err = runSyncWriter(os.Getenv(writerEnv))
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// runPatternWriter (args: MiB, seed, posix|ofd) creates the file, takes
// a write lock on its first 4 KiB, writes MiB pattern blocks, says HALF
// half way and waits for a line, then fsyncs, says DONE <sha256>, and
// keeps the file open and locked until told to exit.
func runPatternWriter(p string, args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("writer args %q, want MiB seed lock", args)
	}
	mib, err1 := strconv.Atoi(args[0])
	seed, err2 := strconv.Atoi(args[1])
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	setlk := syscall.F_SETLK
	if args[2] == "ofd" {
		setlk = fOFDSetlk
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Start: 0, Len: 4096}
	if err := syscall.FcntlFlock(f.Fd(), setlk, &lk); err != nil {
		return fmt.Errorf("%s lock: %w", args[2], err)
	}
	in := bufio.NewScanner(os.Stdin)
	h := sha256.New()
	base, block := patternBase(byte(seed)), make([]byte, 1<<20)
	for i := 0; i < mib; i++ {
		if i == mib/2 {
			fmt.Println("HALF")
			in.Scan()
		}
		patternBlock(base, block, i)
		h.Write(block)
		if _, err := f.Write(block); err != nil {
			return fmt.Errorf("write of block %d: %w", i, err)
		}
	}
	start := time.Now()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	fmt.Printf("DONE %x fsync=%v\n", h.Sum(nil), time.Since(start))
	in.Scan()
	if err := f.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	fmt.Println("BYE")
	return nil
}

// runHolder (args: second path) opens p read-only with a POSIX read lock
// on all of it and the second file read-write with a flock lock, says
// READY, and on a line reads both through those descriptors and says SUMS
// <sha256> <sha256>; on the next line it closes them and says BYE.
func runHolder(p string, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("holder args %q, want the flock file", args)
	}
	ro, err := os.Open(p)
	if err != nil {
		return err
	}
	lk := syscall.Flock_t{Type: syscall.F_RDLCK} // Len 0: to the end of the file, and beyond
	if err := syscall.FcntlFlock(ro.Fd(), syscall.F_SETLK, &lk); err != nil {
		return fmt.Errorf("read lock: %w", err)
	}
	fl, err := os.OpenFile(args[0], os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(fl.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("flock: %w", err)
	}
	fmt.Println("READY")
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	var sums []string
	for _, f := range []*os.File{ro, fl} {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<40)); err != nil {
			return fmt.Errorf("read %s through the held descriptor: %w", f.Name(), err)
		}
		sums = append(sums, hex.EncodeToString(h.Sum(nil)))
	}
	fmt.Println("SUMS", sums[0], sums[1])
	in.Scan()
	if err := errors.Join(ro.Close(), fl.Close()); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	fmt.Println("BYE")
	return nil
}

// Pattern files: 1 MiB blocks of one random block per seed, each 4 KiB
// page stamped with its block and offset, so a page written to the wrong
// place changes the checksum. Cheap to make (the writers run with -race)
// and to make again here for the expected checksum.

func patternBase(seed byte) []byte {
	b := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b) // never fails
	return b
}

// patternBlock fills block with block i of a pattern file.
func patternBlock(base, block []byte, i int) {
	copy(block, base)
	for p := 0; p < len(block); p += 4096 {
		encbin.LittleEndian.PutUint64(block[p:], uint64(i)<<32|uint64(p))
	}
}

// patternSum is the sha256 of a pattern file of mib blocks.
func patternSum(seed byte, mib int) [32]byte {
	h := sha256.New()
	base, block := patternBase(seed), make([]byte, 1<<20)
	for i := 0; i < mib; i++ {
		patternBlock(base, block, i)
		h.Write(block)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// patternFile writes a pattern file at p and returns its sha256.
func patternFile(t *testing.T, p string, seed byte, mib int) [32]byte {
	t.Helper()
	base, block := patternBase(seed), make([]byte, 1<<20)
	buf := make([]byte, 0, mib<<20)
	for i := 0; i < mib; i++ {
		patternBlock(base, block, i)
		buf = append(buf, block...)
	}
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(buf)
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

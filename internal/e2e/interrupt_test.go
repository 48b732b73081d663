package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// TestInterruptHardMount: on a hard mount whose server stopped answering,
// an application blocked in a read is not stuck for good. SIGINT ends the
// read with EINTR and SIGKILL ends the process, long before the server
// returns, while a reader nobody signals keeps waiting and then succeeds.
//
// The chain: the kernel sends FUSE_INTERRUPT for the request, go-fuse
// cancels its context, and nfsclient gives up the wait once the server is
// seen not answering: requests pending and nothing received for a
// heartbeat (nfsclient.DefaultHeartbeat). A request the server is still
// answering is finished, not abandoned, as on a kernel hard mount. So the
// read ends about a heartbeat after the last reply, however early the
// signal came; the test sizes its bound from that.
//
// The reads are O_DIRECT: synchronous FUSE requests, which a signal
// interrupts. A buffered read waits for the kernel's asynchronous
// read-ahead instead, which only a fatal signal ends (at once, in the
// kernel).
//
// The server's lease is longer than the test's black hole: past the lease
// the server expires the client's state, a different failure.
func TestInterruptHardMount(t *testing.T) {
	const blackhole = 60 * time.Second
	r := mountRig(t, "", func(o *localtarget.Options) { o.LeaseSeconds = 30 })
	sums := map[string][32]byte{}
	for i, name := range []string{"sigint", "sigkill", "waits"} {
		sums[name] = patternFile(t, filepath.Join(r.export, name), byte(10+i), 2)
	}
	intr := startChild(t, "SIGINT reader", "read", filepath.Join(r.mnt, "sigint"), "catch")
	kill := startChild(t, "SIGKILL reader", "read", filepath.Join(r.mnt, "sigkill"))
	waits := startChild(t, "reader not signalled", "read", filepath.Join(r.mnt, "waits"))
	readers := []*child{intr, kill, waits}
	for _, c := range readers {
		c.expect("READY", time.Minute) // open, before the black hole
	}
	r.tgt.Blackhole(blackhole)
	defer r.tgt.Heal()
	start := time.Now()
	for _, c := range readers {
		c.say("read")
		c.expect("READING", 10*time.Second)
	}
	time.Sleep(3 * time.Second)
	for _, c := range readers {
		select {
		case l := <-c.lines:
			t.Fatalf("%s: %q before any signal, inside the black hole", c.name, l.text)
		default:
		}
	}
	signalled := time.Now()
	if err := intr.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := kill.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// A heartbeat after the last reply (the black hole's start), plus
	// nfsclient's 100 ms poll and slack for a loaded machine.
	deadline := start.Add(nfsclient.DefaultHeartbeat + 5*time.Second)
	l := intr.expect("EINTR", time.Until(deadline))
	t.Logf("SIGINT: read returned EINTR %v after the signal, %v into the black hole", l.at.Sub(signalled), l.at.Sub(start))
	select {
	case l, ok := <-kill.lines:
		if ok {
			t.Fatalf("SIGKILL reader said %q", l.text)
		}
	case <-time.After(time.Until(deadline)):
		t.Fatalf("SIGKILL reader still alive %v after the signal, %v into a %v black hole", time.Since(signalled), time.Since(start), blackhole)
	}
	ended := time.Now()
	err := kill.cmd.Wait()
	if ws, ok := kill.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("SIGKILL reader ended with %v, want killed by SIGKILL", err)
	}
	t.Logf("SIGKILL: process gone %v after the signal, %v into the black hole", ended.Sub(signalled), ended.Sub(start))
	select {
	case l := <-waits.lines:
		t.Fatalf("reader not signalled: %q inside the black hole (a hard mount waits)", l.text)
	default:
	}

	r.tgt.Heal()
	l = waits.expect("OK", time.Minute)
	t.Logf("reader not signalled: %s, %v after the black hole began", l.text, l.at.Sub(start))
	if l.text != fmt.Sprintf("OK %d", 1<<20) {
		t.Fatalf("reader not signalled read %q, want 1 MiB", l.text)
	}
	for _, name := range []string{"sigint", "sigkill"} {
		if fileSumDirect(t, filepath.Join(r.mnt, name)) != sums[name] {
			t.Fatalf("%s reads back wrong after the black hole", name)
		}
	}
}

// A reader's main goroutine runs on the process's main thread, the one a
// signal sent to the process goes to (the kernel prefers the thread group
// leader), so the signal interrupts its read as it would a single-threaded
// application's.
func init() {
	if os.Getenv(childModeEnv) == "read" {
		runtime.LockOSThread()
	}
}

// runReader (args: "catch" to catch SIGINT) opens p with O_DIRECT, says
// READY, and on a line says READING and reads 1 MiB at offset 0 with one
// pread(2), then says OK <bytes> or EINTR.
func runReader(p string, args []string) error {
	if len(args) == 1 && args[0] == "catch" {
		// Caught, SIGINT interrupts the read instead of ending the
		// process, and pread reports EINTR (Go retries EINTR only in
		// package os).
		signal.Notify(make(chan os.Signal, 1), os.Interrupt)
	}
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return err
	}
	// O_DIRECT wants an aligned buffer: a fresh mapping is page aligned.
	buf, err := syscall.Mmap(-1, 0, 1<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return err
	}
	fmt.Println("READY")
	bufio.NewScanner(os.Stdin).Scan()
	fmt.Println("READING")
	start := time.Now()
	n, err := syscall.Pread(fd, buf, 0)
	switch {
	case err == syscall.EINTR:
		fmt.Println("EINTR", time.Since(start))
	case err != nil:
		return fmt.Errorf("pread: %w", err)
	default:
		fmt.Println("OK", n)
	}
	return nil
}

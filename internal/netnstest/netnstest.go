// Package netnstest gives tests a network namespace of their own and a way
// to put a target where only that namespace can reach it, so a netns=
// test proves the connection really went through the namespace.
//
// It does its own setns rather than use tunnel.InNetNS: tunnel's tests are
// in package tunnel, and they could not import a package that imports
// tunnel (an import cycle).
package netnstest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// New returns the network namespace file (/proc/PID/ns/net) of a fresh
// namespace, kept alive by an `unshare --net sleep` child until the test
// ends; with loUp its loopback interface is up (a new namespace's is
// down). It skips the test without root or unshare. Call it before the
// test mounts anything: it forks.
func New(t testing.TB, loUp bool) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating and joining a network namespace needs root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	cmd := exec.Command("unshare", "--net", "sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	path := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/net"
	// The child is in our namespace until unshare has run. (This thread's:
	// an unlocked goroutine never runs on one that is in another.)
	self, _ := os.Readlink("/proc/thread-self/ns/net")
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ns, err := os.Readlink(path); err == nil && ns != self {
			break
		}
		if time.Now().After(end) {
			t.Fatal("unshare --net did not make a namespace")
		}
	}
	if loUp {
		if err := in(path, func() error { return linkUp("lo") }); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// Forward listens on the loopback of the namespace at path and relays each
// connection to target, dialled from the test's namespace: the target is
// then at addr only from inside the namespace. conns counts the
// connections relayed, so a test can tell that its traffic went through.
// The namespace's loopback must be up (New with loUp).
func Forward(t testing.TB, path, target string) (addr string, conns *atomic.Int32) {
	t.Helper()
	var ln net.Listener
	if err := in(path, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int32)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Go(func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			})
		}
	})
	addr = ln.Addr().String()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s answers in the test's own namespace too: the test would prove nothing", addr)
	}
	return addr, conns
}

// in runs fn on a thread locked into the namespace at path, then moves the
// thread back. Going back, rather than letting the thread die, also works
// when the goroutine lands on the main thread, which Go never ends. Sockets
// fn creates stay in the namespace whichever thread uses them later.
func in(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("this thread's network namespace: %w", err)
			return
		}
		defer back.Close()
		if err := setns(path); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = fn()
		if e := unix.Setns(int(back.Fd()), unix.CLONE_NEWNET); e != nil {
			// Still locked: the goroutine's exit takes the thread with
			// it, so nothing else runs in the namespace.
			errc <- fmt.Errorf("back from network namespace %s: setns: %w", path, e)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// setns moves the calling thread into the network namespace at path.
func setns(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("network namespace %s: setns: %w", path, err)
	}
	return nil
}

// linkUp sets the interface up in the calling thread's namespace, as
// `ip link set NAME up` does, without needing iproute2.
func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("link %s up: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("link %s up: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("link %s up: get flags: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("link %s up: set flags: %w", name, err)
	}
	return nil
}

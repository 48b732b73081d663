package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/internal/netnstest"
	"github.com/efs-fuse/efs-fuse/internal/testca"
)

// TestDialNetNSIsolated: a listener on the host's loopback is reachable
// without NetNS and not from another namespace, whose loopback is another
// one (or down).
func TestDialNetNSIsolated(t *testing.T) {
	f := newFixture(t)
	addr, results := startTLSServer(t, f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}}))
	cfg := NewConfig(addr, fsName)
	cfg.CAFile = f.caFile
	if r := dialAndPing(t, cfg, results); r.handshakeErr != nil {
		t.Fatalf("host dial: server handshake: %v", r.handshakeErr)
	}
	for _, tc := range []struct {
		name string
		loUp bool
		want error
	}{
		{"LoopbackDown", false, unix.ENETUNREACH},
		{"LoopbackUp", true, unix.ECONNREFUSED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfg
			cfg.NetNS = netnstest.New(t, tc.loUp)
			err := dialFails(t, cfg, fmt.Sprintf("dial from namespace %s reached the host's listener %s", cfg.NetNS, addr))
			e := checkError(t, err, KindConnect, "in network namespace "+cfg.NetNS)
			if !errors.Is(e, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			select {
			case r := <-results:
				t.Errorf("host listener saw a connection: %+v", r)
			default:
			}
		})
	}
}

// TestDialNetNSReachesListenerInside: a TLS server listening inside the
// namespace is reached by name and by address with NetNS, TLS and data
// then flowing on the caller's goroutine.
func TestDialNetNSReachesListenerInside(t *testing.T) {
	f := newFixture(t)
	path := netnstest.New(t, true)
	var ln net.Listener
	if err := InNetNS(path, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	addr, results := serveTLS(t, ln, f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}}))
	_, port, _ := net.SplitHostPort(addr)
	for name, a := range map[string]string{"ByIP": addr, "ByName": net.JoinHostPort("localhost", port)} {
		t.Run(name, func(t *testing.T) {
			cfg := NewConfig(a, fsName)
			cfg.CAFile = f.caFile
			cfg.NetNS = path
			r := dialAndPing(t, cfg, results)
			if r.handshakeErr != nil {
				t.Fatalf("server handshake: %v", r.handshakeErr)
			}
			if string(r.appData) != "ping" {
				t.Errorf("server got %q, want ping", r.appData)
			}
		})
	}
}

// TestInNetNSDoesNotLeak: the threads that joined the namespace end with
// their call; no thread of the process is left in it.
func TestInNetNSDoesNotLeak(t *testing.T) {
	path := netnstest.New(t, false)
	inside, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		var seen string
		if err := InNetNS(path, func() (err error) {
			seen, err = os.Readlink("/proc/thread-self/ns/net")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if seen != inside {
			t.Fatalf("fn ran in %s, want %s", seen, inside)
		}
	}
	// Thread exit trails the goroutine's by a little.
	var left []string
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		left = left[:0]
		tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
		for _, p := range tasks {
			if ns, err := os.Readlink(p); err == nil && ns == inside {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
	}
	t.Errorf("threads still in the namespace: %v", left)
}

func TestNetNSBadPath(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ path, want string }{
		"Missing":   {"/nonexistent/ns/net", "network namespace /nonexistent/ns/net: open /nonexistent/ns/net: no such file or directory"},
		"Regular":   {regular, "network namespace " + regular + ": not a network namespace file"},
		"UTSNotNet": {"/proc/self/ns/uts", "network namespace /proc/self/ns/uts: not a network namespace file"},
		"Directory": {"/proc", "network namespace /proc: not a network namespace file"},
	} {
		t.Run(name, func(t *testing.T) {
			if os.Geteuid() != 0 && name != "Missing" {
				t.Skip("setns reports EPERM, not EINVAL, without CAP_SYS_ADMIN")
			}
			cfg := NewConfig("127.0.0.1:2049", fsName)
			cfg.NetNS = c.path
			_, err := NewDialer(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("NewDialer err = %v, want it to contain %q", err, c.want)
			}
			c2, err := DialNetNS(context.Background(), c.path, "tcp", "127.0.0.1:2049")
			if err == nil {
				c2.Close()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("DialNetNS err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

package tunnel

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/internal/testca"
)

// recordingListener hands the relay its connections and keeps them, so the
// test can read socket options on the relay's side of each.
type recordingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// noDelay reads TCP_NODELAY back from the kernel for a socket.
func noDelay(sc syscall.RawConn) (bool, error) {
	var v int
	var gerr error
	if err := sc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY) }); err != nil {
		return false, err
	}
	return v != 0, gerr
}

// upstreamFD finds this process's socket connected to peer: the relay's
// upstream connection, which the relay does not expose. Only fds whose
// peer address matches are read, so an fd reused meanwhile cannot mislead.
func upstreamFD(peer *net.TCPAddr) (int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1, fmt.Errorf("list fds: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		sa, err := unix.Getpeername(fd)
		if err != nil {
			continue // not a connected socket
		}
		if in, ok := sa.(*unix.SockaddrInet4); ok && in.Port == peer.Port && net.IP(in.Addr[:]).Equal(peer.IP) {
			// Only the relay's dial has the echo server as its peer; the
			// server's own end has it as its local address.
			return fd, nil
		}
	}
	return -1, fmt.Errorf("no socket connected to %v", peer)
}

// TestRelaySetsNoDelay reads TCP_NODELAY back on both of the relay's
// sockets of a connection: the accepted local one (the kernel NFS client's)
// and the upstream one to the target. Go enables it by default; this guards
// against any path (a custom dialer, a wrapped conn) that would lose it and
// let Nagle hold back small RPC replies.
func TestRelaySetsNoDelay(t *testing.T) {
	f := newFixture(t)
	srv := startEchoTLSServer(t, f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &recordingListener{Listener: ln}
	r, err := NewRelay(rl, RelayConfig{Target: targetConfig(f, srv.addr)})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c := dialLocal(t, r)
	echoBack(t, c, "hello") // the relay has set up both sides once this returns

	rl.mu.Lock()
	accepted := append([]net.Conn(nil), rl.conns...)
	rl.mu.Unlock()
	if len(accepted) != 1 {
		t.Fatalf("relay accepted %d connections, want 1", len(accepted))
	}
	sc, err := accepted[0].(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if on, err := noDelay(sc); err != nil || !on {
		t.Errorf("local socket TCP_NODELAY = %v (%v), want on", on, err)
	}

	peer, err := net.ResolveTCPAddr("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := upstreamFD(peer)
	if err != nil {
		t.Fatal(err)
	}
	v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
	if err != nil || v == 0 {
		t.Errorf("upstream socket TCP_NODELAY = %d (%v), want on", v, err)
	}
}

package tunnel

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testca"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// startRelay runs a relay on a free loopback port for the test and closes
// it (checking that every connection ended) in Cleanup. Logs go to the test
// log and to the returned observer.
func startRelay(t testing.TB, cfg RelayConfig) (*Relay, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	cfg.Logger = zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
	r, err := ListenRelay("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("relay Close: %v", err)
		}
		if n := r.Active(); n != 0 {
			t.Errorf("%d connections still active after Close", n)
		}
	})
	return r, logs
}

// startEchoTLSServer echoes every byte back until the client closes. It
// counts accepted connections; CutAll closes them (a target-side drop).
type echoServer struct {
	addr     string
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func startEchoTLSServer(t testing.TB, cfg *tls.Config) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				tc := tls.Server(c, cfg)
				buf := make([]byte, 256<<10)
				_, _ = io.CopyBuffer(struct{ io.Writer }{tc}, struct{ io.Reader }{tc}, buf)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.CutAll(); wg.Wait() })
	return s
}

func (s *echoServer) CutAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func targetConfig(f *fixture, addr string) Config {
	cfg := NewConfig(addr, fsName)
	cfg.CAFile = f.caFile
	return cfg
}

func dialLocal(t testing.TB, r *Relay) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoBack writes msg and reads it back through the relay.
func echoBack(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

// expectClosed checks that the relay closes c within d (the peer sees EOF or reset).
func expectClosed(t testing.TB, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("local connection still open after %v (read: %v)", d, err)
	}
}

func TestRelayEcho(t *testing.T) {
	f := newFixture(t)
	srv := startEchoTLSServer(t, f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}}))
	r, _ := startRelay(t, RelayConfig{Target: targetConfig(f, srv.addr)})
	c := dialLocal(t, r)
	echoBack(t, c, "hello")
	big := strings.Repeat("0123456789abcdef", 1<<16) // a 1 MiB record
	echoBack(t, c, big)
}

func TestRelayProbeIsNotDialled(t *testing.T) {
	f := newFixture(t)
	srv := startEchoTLSServer(t, f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}}))
	r, logs := startRelay(t, RelayConfig{Target: targetConfig(f, srv.addr), IdleTimeout: 300 * time.Millisecond})

	// Connect and close at once, as a port probe does.
	c := dialLocal(t, r)
	c.Close()
	// Connect and stay silent: closed after the idle timeout, still undialled.
	silent := dialLocal(t, r)
	expectClosed(t, silent, 5*time.Second)

	waitFor(t, func() bool { return r.Active() == 0 })
	if n := srv.accepted.Load(); n != 0 {
		t.Errorf("target saw %d connections for probes, want 0", n)
	}
	if l := logs.Filter(func(e observer.LoggedEntry) bool { return e.Level > zapcore.InfoLevel }); l.Len() != 0 {
		t.Errorf("probes logged warnings or errors: %v", l.All())
	}
}

func TestRelayIdleTimeout(t *testing.T) {
	f := newFixture(t)
	srv := startEchoTLSServer(t, f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}}))
	const idle = 400 * time.Millisecond
	r, _ := startRelay(t, RelayConfig{Target: targetConfig(f, srv.addr), IdleTimeout: idle})

	// Traffic every idle/4 for 3 idle periods keeps the connection open.
	c := dialLocal(t, r)
	var last time.Time
	for end := time.Now().Add(3 * idle); time.Now().Before(end); time.Sleep(idle / 4) {
		echoBack(t, c, "tick")
		last = time.Now()
	}
	// Then silence closes it, not before the timeout.
	expectClosed(t, c, 5*time.Second)
	if el := time.Since(last); el < idle {
		t.Errorf("closed after %v of silence, before the %v idle timeout", el, idle)
	}
}

func TestRelayUpstreamDropClosesLocal(t *testing.T) {
	f := newFixture(t)
	srv := startEchoTLSServer(t, f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}}))
	r, logs := startRelay(t, RelayConfig{Target: targetConfig(f, srv.addr)})
	c := dialLocal(t, r)
	echoBack(t, c, "before")
	srv.CutAll()
	expectClosed(t, c, 5*time.Second)
	waitFor(t, func() bool { return logs.FilterMessageSnippet("mount target closed the connection").Len() == 1 })
	// A new connection (the kernel's reconnect) works.
	echoBack(t, dialLocal(t, r), "after")
}

func TestRelayReloadClientCertificate(t *testing.T) {
	f, addr, results, issue := clientCertTarget(t)
	var onDisk atomic.Pointer[tls.Certificate] // what a re-read would find
	onDisk.Store(issue("cert-1"))
	r, _ := startRelay(t, RelayConfig{
		Target:                targetConfig(f, addr),
		LoadClientCertificate: func() (*tls.Certificate, error) { return onDisk.Load(), nil },
	})
	presented := func() string { return presentedCN(t, r, results) }
	if cn := presented(); cn != "cert-1" {
		t.Fatalf("first connection presented %q, want cert-1", cn)
	}
	onDisk.Store(issue("cert-2"))
	if cn := presented(); cn != "cert-1" {
		t.Fatalf("before Reload a new connection presented %q, want cert-1 still", cn)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if cn := presented(); cn != "cert-2" {
		t.Fatalf("after Reload a new connection presented %q, want cert-2", cn)
	}
}

// TestRelayPerHandshakeClientCertificate: Target.ClientCertificate (an
// Identity renewing itself) is asked on every upstream handshake, so a
// change shows on the next connection without Reload; setting it together
// with LoadClientCertificate is refused.
func TestRelayPerHandshakeClientCertificate(t *testing.T) {
	f, addr, results, issue := clientCertTarget(t)
	var current atomic.Pointer[tls.Certificate]
	current.Store(issue("cert-1"))
	tc := targetConfig(f, addr)
	tc.ClientCertificate = func() (*tls.Certificate, error) { return current.Load(), nil }
	if _, err := NewRelay(nil, RelayConfig{Target: tc, LoadClientCertificate: tc.ClientCertificate}); err == nil {
		t.Fatal("NewRelay accepted both certificate sources")
	}
	r, _ := startRelay(t, RelayConfig{Target: tc})
	presented := func() string { return presentedCN(t, r, results) }
	if cn := presented(); cn != "cert-1" {
		t.Fatalf("presented %q, want cert-1", cn)
	}
	current.Store(issue("cert-2"))
	if cn := presented(); cn != "cert-2" {
		t.Fatalf("after the change a new connection presented %q, want cert-2", cn)
	}
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload with nothing to reload: %v", err)
	}
}

// TestRelayLogsRefusedClientCertificate: a target that refuses the client
// certificate (an EFS access point or IAM refusal) is named as such in the
// log, whether the refusal ends the TLS 1.2 handshake or comes on the
// first read after a TLS 1.3 one.
func TestRelayLogsRefusedClientCertificate(t *testing.T) {
	for name, v := range map[string]uint16{"TLS12": tls.VersionTLS12, "TLS13": tls.VersionTLS13} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			scfg := f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}})
			// Judge the certificate as the local target does (EFS extensions).
			scfg.ClientAuth = tls.RequireAnyClientCert
			scfg.VerifyConnection = func(tls.ConnectionState) error { return errors.New("no access point") }
			scfg.MaxVersion = v
			srv := startEchoTLSServer(t, scfg)
			cert, err := f.otherCA.Issue(testca.Leaf{CommonName: "client", Client: true})
			if err != nil {
				t.Fatal(err)
			}
			r, logs := startRelay(t, RelayConfig{Target: targetConfig(f, srv.addr),
				LoadClientCertificate: func() (*tls.Certificate, error) { return &cert, nil }})
			c := dialLocal(t, r)
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c, 5*time.Second)
			waitFor(t, func() bool {
				return logs.FilterMessageSnippet("refused the client certificate").FilterLevelExact(zapcore.ErrorLevel).Len() == 1
			})
		})
	}
}

func TestRelayReloadErrorKeepsCertificate(t *testing.T) {
	f := newFixture(t)
	srv := startEchoTLSServer(t, f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}}))
	fail := false
	r, logs := startRelay(t, RelayConfig{
		Target: targetConfig(f, srv.addr),
		LoadClientCertificate: func() (*tls.Certificate, error) {
			if fail {
				return nil, errors.New("key file missing")
			}
			return nil, nil
		},
	})
	fail = true
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), "key file missing") {
		t.Fatalf("Reload = %v, want the load error", err)
	}
	if logs.FilterMessageSnippet("reload failed").Len() != 1 {
		t.Error("failed reload not logged")
	}
	echoBack(t, dialLocal(t, r), "still relaying")
}

func TestRelayRefusesBadTargetCertificate(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		ca   *testca.CA
		leaf testca.Leaf
		kind ErrorKind
	}{
		{"UntrustedCA", f.otherCA, testca.Leaf{DNSNames: []string{fsName}}, KindUnknownAuthority},
		{"WrongName", f.ca, testca.Leaf{DNSNames: []string{"fs-99999999.efs.us-east-1.amazonaws.com"}}, KindHostname},
		{"Expired", f.ca, testca.Leaf{DNSNames: []string{fsName}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}, KindExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startEchoTLSServer(t, f.serverConfig(t, tc.ca, tc.leaf))
			r, logs := startRelay(t, RelayConfig{Target: targetConfig(f, srv.addr)})
			c := dialLocal(t, r)
			if _, err := c.Write([]byte("secret")); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c, 5*time.Second)
			waitFor(t, func() bool { return logs.FilterMessageSnippet("cannot reach the mount target").Len() == 1 })
			e := logs.FilterMessageSnippet("cannot reach the mount target").All()[0]
			if e.Level != zapcore.ErrorLevel {
				t.Errorf("logged at %v, want error", e.Level)
			}
			logged, _ := e.ContextMap()["error"].(string)
			// The logged reason is the Dialer's classified error, as FUSE mode reports it.
			d, err := NewDialer(targetConfig(f, srv.addr))
			if err != nil {
				t.Fatal(err)
			}
			_, derr := d.DialContext(context.Background())
			var te *Error
			if !errors.As(derr, &te) || te.Kind != tc.kind || te.Error() != logged {
				t.Errorf("logged %q; a direct dial fails with %v, want kind %v", logged, derr, tc.kind)
			}
		})
	}
}

func TestRelayConcurrentConnections(t *testing.T) {
	f := newFixture(t)
	srv := startEchoTLSServer(t, f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}}))
	r, _ := startRelay(t, RelayConfig{Target: targetConfig(f, srv.addr)})
	const n = 32
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialLocal(t, r)
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := strings.Repeat(string(rune('a'+i%26)), 100<<10+i)
			for range 5 {
				echoBack(t, c, msg)
			}
		}()
	}
	wg.Wait()
	if a := r.Active(); a != n {
		t.Errorf("Active = %d, want %d", a, n)
	}
}

func TestRelayCloseEndsConnections(t *testing.T) {
	f := newFixture(t)
	srv := startEchoTLSServer(t, f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}}))
	core, _ := observer.New(zapcore.DebugLevel)
	r, err := ListenRelay("127.0.0.1:0", RelayConfig{Target: targetConfig(f, srv.addr), Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 4 {
		c := dialLocal(t, r)
		echoBack(t, c, "hi")
		conns = append(conns, c)
	}
	conns = append(conns, dialLocal(t, r)) // one still waiting for its first byte
	waitFor(t, func() bool { return r.Active() == 5 })
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if r.Active() != 0 {
		t.Errorf("Active = %d after Close", r.Active())
	}
	for _, c := range conns {
		expectClosed(t, c, 2*time.Second)
	}
	if _, err := net.Dial("tcp", r.Addr().String()); err == nil {
		t.Error("relay still accepts after Close")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewRelayErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := NewRelay(ln, RelayConfig{Target: Config{Addr: "nope"}}); err == nil {
		t.Error("bad target address accepted")
	}
	_, err = NewRelay(ln, RelayConfig{
		Target:                NewConfig("127.0.0.1:2049", fsName),
		LoadClientCertificate: func() (*tls.Certificate, error) { return nil, errors.New("no such file") },
	})
	if err == nil || !strings.Contains(err.Error(), "client certificate: no such file") {
		t.Errorf("NewRelay with a failing certificate = %v", err)
	}
	if _, err := ListenRelay("127.0.0.1:notaport", RelayConfig{}); err == nil {
		t.Error("bad listen address accepted")
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 5 s")
}

// --- With the local EFS-like target (nfs-ganesha behind TLS) and our NFS client ---

// nfsThroughRelay starts a local target and a relay to it.
func nfsThroughRelay(t *testing.T) (*localtarget.Target, *Relay, *observer.ObservedLogs, string) {
	t.Helper()
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	cfg := NewConfig(tgt.Addr(), tgt.ServerName())
	cfg.CAFile = tgt.CAFile()
	r, logs := startRelay(t, RelayConfig{Target: cfg})
	return tgt, r, logs, export
}

// nfsDial opens an NFSv4.1 session over PLAIN TCP to the relay, as the
// kernel client does.
func nfsDial(t *testing.T, r *Relay) *nfsclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := nfsclient.Dial(ctx, nfsclient.Config{
		Dial: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", r.Addr().String())
		},
		OwnerID: fmt.Sprintf("relay-test/%s/%d", t.Name(), time.Now().UnixNano()),
		Logger:  zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)),
	})
	if err != nil {
		t.Fatalf("NFS session through the relay: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close NFS session: %v", err)
		}
	})
	return c
}

func TestRelayNFSFileRoundTrip(t *testing.T) {
	_, r, _, export := nfsThroughRelay(t)
	c := nfsDial(t, r)
	ctx := context.Background()
	if c.MaxWrite() != 1<<20 {
		t.Fatalf("session max write = %d, want 1 MiB records through the relay", c.MaxWrite())
	}
	rootFH, _, err := c.LookupPath(ctx, rpc.Root, "/")
	if err != nil {
		t.Fatal(err)
	}
	const size, chunk = 64 << 20, 1 << 20
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i*7 + i>>13)
	}
	o, err := c.Open(ctx, rpc.Root, nfsclient.OpenArgs{Dir: rootFH, Name: "through-relay", Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseState(ctx, rpc.Root, o.FH, o.Stateid)
	parallel := func(f func(i int) error) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16) // many RPCs in flight, as the kernel keeps them
		for i := 0; i < size/chunk; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := f(i); err != nil {
					t.Errorf("chunk %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
	}
	parallel(func(i int) error {
		w, err := c.Write(ctx, rpc.Root, o.FH, o.Stateid, uint64(i*chunk), src[i*chunk:(i+1)*chunk], nfsclient.Unstable)
		if err == nil && w.Count != chunk {
			err = fmt.Errorf("short write %d", w.Count)
		}
		return err
	})
	if _, err := c.Commit(ctx, rpc.Root, o.FH, 0, 0); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, size)
	parallel(func(i int) error {
		n, _, err := c.Read(ctx, rpc.Root, o.FH, o.Stateid, uint64(i*chunk), got[i*chunk:(i+1)*chunk])
		if err == nil && n != chunk {
			err = fmt.Errorf("short read %d", n)
		}
		return err
	})
	want := sha256.Sum256(src)
	if sha256.Sum256(got) != want {
		t.Fatal("file read back through the relay differs from what was written")
	}
	backing, err := os.ReadFile(filepath.Join(export, "through-relay"))
	if err != nil || sha256.Sum256(backing) != want {
		t.Fatalf("backing file differs (%d bytes, %v)", len(backing), err)
	}
}

func TestRelayNFSConcurrentSessions(t *testing.T) {
	_, r, _, _ := nfsThroughRelay(t)
	const n = 32
	var wg sync.WaitGroup
	clients := make([]*nfsclient.Client, n)
	for i := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); clients[i] = nfsDial(t, r) }()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if a := r.Active(); a != n {
		t.Errorf("relay serves %d connections, want %d", a, n)
	}
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if err := c.Null(context.Background()); err != nil {
					t.Errorf("NULL: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestRelayNFSTargetCutClosesLocal(t *testing.T) {
	tgt, r, logs, _ := nfsThroughRelay(t)
	// A raw RPC connection, so the test sees exactly what the kernel would.
	c := dialLocal(t, r)
	prog := rpc.Program{Prog: 100003, Vers: 4, Machine: "relay-test"}
	call, err := prog.EncodeCall(1, 0, rpc.Root, nil) // NFS NULL
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(call); err != nil {
		t.Fatal(err)
	}
	rec, err := rpc.NewRecordReader(c, 1<<20).ReadRecord()
	if err != nil {
		t.Fatalf("NULL reply through the relay: %v", err)
	}
	if xid, _, err := rpc.ParseReply(rec); err != nil || xid != 1 {
		t.Fatalf("NULL reply xid %d, %v", xid, err)
	}
	if n := tgt.CutConnections(); n != 1 {
		t.Fatalf("target cut %d connections, want 1", n)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("local side after the target dropped: %v, want EOF", err)
	}
	waitFor(t, func() bool { return logs.FilterMessageSnippet("mount target closed the connection").Len() == 1 })
	// The reconnect (the kernel's next connection) is relayed again.
	c2 := nfsDial(t, r)
	if err := c2.Null(context.Background()); err != nil {
		t.Fatalf("NULL after reconnect: %v", err)
	}
}

// presentedCN opens one connection through r and returns the common name
// of the client certificate the upstream server (startTLSServer) saw.
// clientCertTarget is a target that requires a client certificate (any),
// with issue making client certificates named cn for the relay to present
// (see presentedCN).
func clientCertTarget(t *testing.T) (f *fixture, addr string, results <-chan serverResult, issue func(cn string) *tls.Certificate) {
	t.Helper()
	f = newFixture(t)
	scfg := f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}})
	scfg.ClientAuth = tls.RequireAnyClientCert
	addr, results = startTLSServer(t, scfg)
	issue = func(cn string) *tls.Certificate {
		c, err := f.otherCA.Issue(testca.Leaf{CommonName: cn, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		return &c
	}
	return f, addr, results, issue
}

func presentedCN(t *testing.T, r *Relay, results <-chan serverResult) string {
	t.Helper()
	c := dialLocal(t, r)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// Hold the connection until the server has the byte, then close.
	time.Sleep(50 * time.Millisecond)
	c.Close()
	res := <-results
	if res.handshakeErr != nil || len(res.peerCerts) == 0 {
		t.Fatalf("server: handshake %v, %d client certs", res.handshakeErr, len(res.peerCerts))
	}
	return res.peerCerts[0].Subject.CommonName
}

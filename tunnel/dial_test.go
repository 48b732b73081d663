package tunnel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/efs-fuse/efs-fuse/internal/testca"
)

const fsName = "fs-12345678.efs.us-east-1.amazonaws.com"

// serverResult is what the test server saw on one connection.
type serverResult struct {
	handshakeErr error
	appData      []byte // decrypted application bytes received after the handshake
	peerCerts    []*x509.Certificate
	sni          string // server name the client asked for in its hello
	raw          []byte // every byte the client sent, as it crossed TCP
	clientClosed bool   // after a failed handshake, the client closed the connection
}

// rawRecorder keeps a copy of every byte read from the connection.
type rawRecorder struct {
	net.Conn
	raw []byte
}

func (r *rawRecorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.raw = append(r.raw, p[:n]...)
	return n, err
}

// startTLSServer accepts connections on loopback until the test ends and
// reports, per connection, whether the handshake completed and which
// application bytes arrived. The goroutines end when the listener closes
// and the client side is gone.
func startTLSServer(t *testing.T, cfg *tls.Config) (addr string, results <-chan serverResult) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveTLS(t, ln, cfg)
}

// serveTLS serves TLS on a listener the test made (startTLSServer's, or
// one in another network namespace) until the test ends.
func serveTLS(t *testing.T, ln net.Listener, cfg *tls.Config) (string, <-chan serverResult) {
	out := make(chan serverResult, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveOne(c, cfg, out)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), out
}

func serveOne(c net.Conn, cfg *tls.Config, out chan<- serverResult) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var r serverResult
	cfg = cfg.Clone()
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		r.sni = hello.ServerName
		return nil, nil // go on with cfg
	}
	rec := &rawRecorder{Conn: c}
	tc := tls.Server(rec, cfg)
	if r.handshakeErr = tc.Handshake(); r.handshakeErr == nil {
		r.peerCerts = tc.ConnectionState().PeerCertificates
		// Read until the client closes: everything here is application data.
		r.appData, _ = io.ReadAll(tc)
	} else {
		// Record whatever the client sends after the failure, until it
		// closes (EOF, or a reset if it left our alert unread).
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		_, err := io.Copy(io.Discard, rec)
		r.clientClosed = !errors.Is(err, os.ErrDeadlineExceeded)
	}
	r.raw = rec.raw
	out <- r
}

// checkHandshakeOnly checks that raw, all a client sent on a connection it
// refused, is whole TLS records of the handshake and its end only:
// handshake (22), change_cipher_spec (20) and alert (21) records, and, as
// TLS 1.3 encrypts the alert once handshake keys exist, at most one
// application_data (23) record no longer than an encrypted alert. No RPC
// byte went out in clear (a record mark, 0x80..., is no TLS record header),
// nor encrypted (the smallest RPC call, NULL, is 44 bytes).
func checkHandshakeOnly(t *testing.T, raw []byte) {
	t.Helper()
	const maxEncryptedAlert = 2 + 1 + 16 // alert, inner content type, AEAD tag
	if len(raw) == 0 || raw[0] != 22 {
		t.Fatalf("client did not start with a TLS handshake record: % x", raw[:min(len(raw), 16)])
	}
	encrypted := 0
	for b := raw; len(b) > 0; {
		if len(b) < 5 || b[1] != 3 || len(b) < 5+int(binary.BigEndian.Uint16(b[3:5])) {
			t.Fatalf("client sent bytes that are not a whole TLS record at offset %d: % x", len(raw)-len(b), b[:min(len(b), 16)])
		}
		typ, n := b[0], int(binary.BigEndian.Uint16(b[3:5]))
		switch {
		case typ == 20 || typ == 21 || typ == 22:
		case typ == 23 && n <= maxEncryptedAlert && encrypted == 0:
			encrypted++
		default:
			t.Errorf("client sent a TLS record of type %d, %d bytes, on a connection it refused", typ, n)
		}
		b = b[5+n:]
	}
}

// startPlainServer is a TCP server that is not TLS: it answers any bytes
// with an HTTP error, as a misconfigured port would.
func startPlainServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 512)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

type fixture struct {
	ca, otherCA *testca.CA
	caFile      string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	ca, err := testca.LoadOrCreate(dir, "efs-fuse test CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testca.New("some other CA")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ca: ca, otherCA: other, caFile: ca.CertFile()}
}

func (f *fixture) serverConfig(t *testing.T, ca *testca.CA, leaf testca.Leaf) *tls.Config {
	t.Helper()
	cert, err := ca.Issue(leaf)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

var loopbackIP = []net.IP{net.IPv4(127, 0, 0, 1)}

func TestDialSucceeds(t *testing.T) {
	f := newFixture(t)
	good := testca.Leaf{DNSNames: []string{fsName}}
	cases := []struct {
		name      string
		addr      func(port string) string
		serverMax uint16
	}{
		{"ByDNSName", func(p string) string { return net.JoinHostPort("localhost", p) }, 0},
		{"ByIPWithServerName", func(p string) string { return net.JoinHostPort("127.0.0.1", p) }, 0},
		{"TLS12Server", func(p string) string { return net.JoinHostPort("127.0.0.1", p) }, tls.VersionTLS12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			scfg := f.serverConfig(t, f.ca, good)
			scfg.MaxVersion = tc.serverMax
			addr, results := startTLSServer(t, scfg)
			_, port, _ := net.SplitHostPort(addr)
			cfg := NewConfig(tc.addr(port), fsName)
			cfg.CAFile = f.caFile
			dialAndPing(t, cfg, results)
		})
	}
}

// dialAndPing dials, writes "ping" and checks the server decrypted exactly that.
func dialAndPing(t *testing.T, cfg Config, results <-chan serverResult) serverResult {
	t.Helper()
	d, err := NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.DialContext(context.Background())
	if err != nil {
		t.Fatalf("DialContext: %v", err)
	}
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	r := <-results
	if r.handshakeErr != nil {
		t.Fatalf("server handshake: %v", r.handshakeErr)
	}
	if r.sni != cfg.ServerName {
		t.Errorf("client sent SNI %q, want %q", r.sni, cfg.ServerName)
	}
	if string(r.appData) != "ping" {
		t.Fatalf("server received %q, want %q", r.appData, "ping")
	}
	return r
}

func TestDialRefuses(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	cases := []struct {
		name     string
		ca       func() *testca.CA
		leaf     testca.Leaf
		maxVer   uint16
		minVer   uint16
		wantKind ErrorKind
		wantMsg  []string
	}{
		{name: "WrongHostName", ca: func() *testca.CA { return f.ca },
			leaf:     testca.Leaf{DNSNames: []string{"other.example.com"}, IPs: loopbackIP},
			wantKind: KindHostname, wantMsg: []string{"not valid for " + fsName, "it is for: other.example.com, 127.0.0.1"}},
		{name: "UnknownCA", ca: func() *testca.CA { return f.otherCA },
			leaf:     testca.Leaf{DNSNames: []string{fsName}},
			wantKind: KindUnknownAuthority, wantMsg: []string{"unknown authority", "some other CA"}},
		{name: "Expired", ca: func() *testca.CA { return f.ca },
			leaf:     testca.Leaf{DNSNames: []string{fsName}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)},
			wantKind: KindExpired, wantMsg: []string{"expired or is not yet valid", "valid from"}},
		{name: "NotYetValid", ca: func() *testca.CA { return f.ca },
			leaf:     testca.Leaf{DNSNames: []string{fsName}, NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)},
			wantKind: KindExpired, wantMsg: []string{"expired or is not yet valid"}},
		{name: "TLS11Server", ca: func() *testca.CA { return f.ca },
			leaf: testca.Leaf{DNSNames: []string{fsName}}, minVer: tls.VersionTLS10, maxVer: tls.VersionTLS11,
			wantKind: KindProtocolVersion, wantMsg: []string{"TLS 1.2 or newer"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			scfg := f.serverConfig(t, tc.ca(), tc.leaf)
			scfg.MinVersion, scfg.MaxVersion = tc.minVer, tc.maxVer
			addr, results := startTLSServer(t, scfg)
			cfg := NewConfig(addr, fsName) // dialled by IP, verified by name
			cfg.CAFile = f.caFile
			err := dialFails(t, cfg, "DialContext succeeded, want an error")
			te := checkError(t, err, tc.wantKind, append(tc.wantMsg, "TLS connection to "+addr+" refused")...)
			if tc.wantKind == KindProtocolVersion && !isRemoteAlert(te.Err, alertProtocolVersion) {
				t.Errorf("protocol version error %v was not recognised by its alert type", te.Err)
			}
			r := <-results
			if r.handshakeErr == nil {
				t.Error("server completed the handshake; the client must abort it")
			}
			if len(r.appData) != 0 {
				t.Errorf("server received application data %q", r.appData)
			}
			if r.sni != fsName {
				t.Errorf("client dialling %s sent SNI %q, want %q", addr, r.sni, fsName)
			}
			checkHandshakeOnly(t, r.raw)
			if !r.clientClosed {
				t.Error("client kept the refused connection open")
			}
		})
	}
}

func checkError(t *testing.T, err error, kind ErrorKind, msgs ...string) *Error {
	t.Helper()
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("error %T %v is not a *tunnel.Error", err, err)
	}
	if te.Kind != kind {
		t.Errorf("Kind = %v, want %v (%v)", te.Kind, kind, err)
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("message %q does not contain %q", err.Error(), m)
		}
	}
	if te.Unwrap() == nil {
		t.Error("Unwrap() = nil, want the underlying error")
	}
	return te
}

func TestDialNotTLS(t *testing.T) {
	addr := startPlainServer(t)
	d, err := NewDialer(NewConfig(addr, fsName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.DialContext(context.Background())
	checkError(t, err, KindHandshake, "did not answer with TLS")
}

func TestDialConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d, err := NewDialer(NewConfig(addr, fsName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.DialContext(context.Background())
	checkError(t, err, KindConnect, "TLS connection to "+addr+" failed", "could not connect")
}

func TestDialHandshakeTimeout(t *testing.T) {
	// A listener that accepts (kernel backlog) but never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := NewConfig(ln.Addr().String(), fsName)
	cfg.DialTimeout = 200 * time.Millisecond
	d, err := NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = d.DialContext(context.Background())
	checkError(t, err, KindHandshake, "did not answer the TLS handshake in time")
	// Silence is not a refusal.
	if want := "TLS connection to " + ln.Addr().String() + " failed: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v, want it to start %q", err, want)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("dial took %v despite a 200ms timeout", el)
	}
}

func TestVerifyZeroConnectsAndWarns(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	// Everything wrong at once: unknown CA, wrong name, expired.
	scfg := f.serverConfig(t, f.otherCA, testca.Leaf{DNSNames: []string{"other.example.com"},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
	addr, results := startTLSServer(t, scfg)
	core, logs := observer.New(zapcore.WarnLevel)
	cfg := NewConfig(addr, fsName)
	cfg.CAFile = f.caFile
	cfg.Verify = 0
	cfg.Logger = zap.New(core)
	dialAndPing(t, cfg, results)
	warns := logs.FilterMessageSnippet("verification is disabled").All()
	if len(warns) != 1 {
		t.Fatalf("got %d verification warnings, want 1: %v", len(warns), logs.All())
	}
	if got := warns[0].ContextMap()["server_name"]; got != fsName {
		t.Errorf("warning server_name = %v", got)
	}
}

func TestCheckHostnameOff(t *testing.T) {
	f := newFixture(t)
	t.Run("TrustedCAWrongNameConnects", func(t *testing.T) {
		addr, results := startTLSServer(t, f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{"other.example.com"}}))
		core, logs := observer.New(zapcore.WarnLevel)
		cfg := NewConfig(addr, fsName)
		cfg.CAFile, cfg.CheckHostname, cfg.Logger = f.caFile, false, zap.New(core)
		dialAndPing(t, cfg, results)
		if logs.FilterMessageSnippet("host name check is disabled").Len() != 1 {
			t.Errorf("want one host name warning, got %v", logs.All())
		}
	})
	t.Run("UnknownCARefused", func(t *testing.T) {
		addr, results := startTLSServer(t, f.serverConfig(t, f.otherCA, testca.Leaf{DNSNames: []string{fsName}}))
		cfg := NewConfig(addr, fsName)
		cfg.CAFile, cfg.CheckHostname = f.caFile, false
		d, err := NewDialer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.DialContext(context.Background())
		checkError(t, err, KindUnknownAuthority, "unknown authority")
		r := <-results
		if r.handshakeErr == nil || len(r.appData) != 0 {
			t.Errorf("server: handshake err %v, app data %q", r.handshakeErr, r.appData)
		}
		checkHandshakeOnly(t, r.raw)
	})
}

func TestClientCertificateSent(t *testing.T) {
	f := newFixture(t)
	clientCert, err := f.otherCA.Issue(testca.Leaf{CommonName: "client-host", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	scfg := f.serverConfig(t, f.ca, testca.Leaf{DNSNames: []string{fsName}})
	scfg.ClientAuth = tls.RequireAnyClientCert
	addr, results := startTLSServer(t, scfg)
	calls := 0
	cfg := NewConfig(addr, fsName)
	cfg.CAFile = f.caFile
	cfg.ClientCertificate = func() (*tls.Certificate, error) { calls++; return &clientCert, nil }
	r := dialAndPing(t, cfg, results)
	if calls != 1 {
		t.Errorf("ClientCertificate called %d times, want 1", calls)
	}
	if len(r.peerCerts) == 0 || r.peerCerts[0].Subject.CommonName != "client-host" {
		t.Errorf("server saw client certificates %v", r.peerCerts)
	}
}

func TestNewTLSConfig(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	base := NewConfig("127.0.0.1:2049", fsName)
	with := func(mod func(*Config)) Config { c := base; mod(&c); return c }
	cases := []struct {
		name         string
		cfg          Config
		wantErr      string
		wantKind     ErrorKind
		wantSkip     bool // InsecureSkipVerify (Go's built-in check off)
		wantVerifyCB bool // our chain-only VerifyConnection installed
		wantRoots    bool
		wantClient   bool
	}{
		{name: "Defaults", cfg: base},
		{name: "CAFile", cfg: with(func(c *Config) { c.CAFile = f.caFile }), wantRoots: true},
		{name: "VerifyOne", cfg: with(func(c *Config) { c.Verify = 1 })},
		{name: "ChainOnly", cfg: with(func(c *Config) { c.CheckHostname = false }), wantSkip: true, wantVerifyCB: true},
		{name: "NoVerification", cfg: with(func(c *Config) { c.Verify = 0 }), wantSkip: true},
		{name: "ClientCert", cfg: with(func(c *Config) {
			c.ClientCertificate = func() (*tls.Certificate, error) { return nil, nil }
		}), wantClient: true},
		{name: "MissingCAFile", cfg: with(func(c *Config) { c.CAFile = missing }), wantErr: "cannot use CA file " + missing, wantKind: KindBadCAFile},
		{name: "CAFileNotPEM", cfg: with(func(c *Config) { c.CAFile = notPEM }), wantErr: "cannot use CA file " + notPEM + ": the file holds no PEM certificate", wantKind: KindBadCAFile},
		{name: "NegativeVerify", cfg: with(func(c *Config) { c.Verify = -1 }), wantErr: "verify level -1 is invalid"},
		{name: "NoServerName", cfg: with(func(c *Config) { c.ServerName = "" }), wantErr: "server name is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewTLSConfig(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				var te *Error
				if tc.wantKind != 0 && (!errors.As(err, &te) || te.Kind != tc.wantKind) {
					t.Errorf("err = %#v, want kind %v", err, tc.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion = %x", got.MinVersion)
			}
			if got.ServerName != fsName {
				t.Errorf("ServerName = %q", got.ServerName)
			}
			if got.InsecureSkipVerify != tc.wantSkip {
				t.Errorf("InsecureSkipVerify = %v", got.InsecureSkipVerify)
			}
			if (got.VerifyConnection != nil) != tc.wantVerifyCB {
				t.Errorf("VerifyConnection set = %v", got.VerifyConnection != nil)
			}
			if (got.RootCAs != nil) != tc.wantRoots {
				t.Errorf("RootCAs set = %v", got.RootCAs != nil)
			}
			if (got.GetClientCertificate != nil) != tc.wantClient {
				t.Errorf("GetClientCertificate set = %v", got.GetClientCertificate != nil)
			}
		})
	}
}

func TestNewDialerBadAddr(t *testing.T) {
	for _, addr := range []string{"", "no-port", "1.2.3.4"} {
		if _, err := NewDialer(NewConfig(addr, fsName)); err == nil {
			t.Errorf("NewDialer(%q) succeeded", addr)
		}
	}
}

func TestErrorKindString(t *testing.T) {
	if KindHostname.String() != "hostname" || ErrorKind(99).String() != "ErrorKind(99)" {
		t.Error("ErrorKind.String")
	}
}

// dialFails dials with cfg, which must fail (the test stops with msg if
// it does not), and returns the error.
func dialFails(t *testing.T, cfg Config, msg string) error {
	t.Helper()
	d, err := NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.DialContext(context.Background())
	if err == nil {
		c.Close()
		t.Fatal(msg)
	}
	return err
}

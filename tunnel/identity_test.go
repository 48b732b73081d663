package tunnel

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/efs-fuse/efs-fuse/internal/efsext"
	"github.com/efs-fuse/efs-fuse/internal/iamauth"
	"github.com/efs-fuse/efs-fuse/internal/testca"
)

const (
	idFSID   = "fs-12345678"
	idAP     = "fsap-0123456789abcdef0"
	idAK     = "ASIAIDENTITYTEST"
	idSecret = "identity/secret+KEY"
	idToken  = "identity-session-token/abc=="
)

var (
	sharedKeyOnce sync.Once
	sharedKeyPEM  []byte
	sharedKeyErr  error
)

// keyFile puts the package's one RSA-3072 test key (generating 3072-bit keys
// takes a second or more) into a fresh directory, mode 0400.
func keyFile(t *testing.T) string {
	t.Helper()
	sharedKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, keyBits)
		if err != nil {
			sharedKeyErr = err
			return
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		sharedKeyPEM, sharedKeyErr = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), err
	})
	if sharedKeyErr != nil {
		t.Fatal(sharedKeyErr)
	}
	p := filepath.Join(t.TempDir(), "privateKey.pem")
	if err := os.WriteFile(p, sharedKeyPEM, 0o400); err != nil {
		t.Fatal(err)
	}
	return p
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func staticSigner(t *testing.T, p aws.CredentialsProvider) *iamauth.Signer {
	t.Helper()
	if p == nil {
		p = credentials.NewStaticCredentialsProvider(idAK, idSecret, idToken)
	}
	s, err := iamauth.NewWithProvider(p, "static test credentials", "us-east-1", idFSID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestIdentity(t *testing.T, mod func(*IdentityConfig)) *Identity {
	t.Helper()
	cfg := IdentityConfig{FSID: idFSID, KeyPath: keyFile(t), CommonName: "client.example", Version: "efs-fuse-test"}
	if mod != nil {
		mod(&cfg)
	}
	id, err := NewIdentity(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestIdentityCertificateFields(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 5, 1, 10, 20, 30, 500, time.UTC)}
	id := newTestIdentity(t, func(c *IdentityConfig) {
		c.AccessPoint, c.IAM, c.Clock, c.ClientSource = idAP, staticSigner(t, nil), clock.Now, "ec2"
	})
	tc, err := id.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	// Decode from the DER actually sent, not the cached Leaf.
	cert, err := x509.ParseCertificate(tc.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 5, 1, 10, 20, 30, 0, time.UTC)
	if cert.Subject.CommonName != "client.example" || cert.Issuer.CommonName != "client.example" {
		t.Errorf("subject %v issuer %v", cert.Subject, cert.Issuer)
	}
	if !cert.NotBefore.Equal(now.Add(-15*time.Minute)) || !cert.NotAfter.Equal(now.Add(3*time.Hour)) {
		t.Errorf("valid %v .. %v, want now-15m .. now+3h", cert.NotBefore, cert.NotAfter)
	}
	if cert.SignatureAlgorithm != x509.SHA256WithRSA || cert.Version != 3 {
		t.Errorf("signature %v version %d", cert.SignatureAlgorithm, cert.Version)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 3072 {
		t.Fatalf("public key %T, want RSA-3072", cert.PublicKey)
	}
	var spki struct {
		Alg asn1.RawValue
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		t.Fatal(err)
	}
	if sum := sha1.Sum(spki.Key.Bytes); !bytes.Equal(cert.SubjectKeyId, sum[:]) {
		t.Errorf("subjectKeyIdentifier % x, want SHA-1 of the key bits % x", cert.SubjectKeyId, sum)
	}
	var oids []string
	for _, e := range cert.Extensions {
		oids = append(oids, e.Id.String())
		if e.Critical {
			t.Errorf("extension %v is critical", e.Id)
		}
	}
	if got, want := strings.Join(oids, " "), "2.5.29.14 1.3.6.1.4.1.4843.7.1 1.3.6.1.4.1.4843.7.2 1.3.6.1.4.1.4843.7.3 1.3.6.1.4.1.4843.7.4"; got != want {
		t.Errorf("extensions %s\nwant       %s", got, want)
	}
	got, err := efsext.Decode(cert)
	if err != nil {
		t.Fatal(err)
	}
	if got.FileSystemID != idFSID || got.AccessPoint != idAP || got.ClientInfo == nil ||
		*got.ClientInfo != (efsext.ClientInfo{Source: "ec2", EFSUtilsVersion: "efs-fuse-test"}) {
		t.Errorf("identity %+v client info %+v", got, got.ClientInfo)
	}
	a := got.IAM
	if a == nil || a.AccessKeyID != idAK || a.SessionToken != idToken || !a.SigV4DateTime.Equal(now) || len(a.Signature) != 64 {
		t.Fatalf("IAM extension %+v", a)
	}
	if err := iamauth.Verify(*a, idSecret, cert.RawSubjectPublicKeyInfo, "us-east-1", idFSID, now); err != nil {
		t.Errorf("IAM signature does not verify: %v", err)
	}
}

func TestIdentityMinimalExtensions(t *testing.T) {
	id := newTestIdentity(t, nil)
	tc, _ := id.Certificate()
	got, err := efsext.Decode(tc.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	want := efsext.Identity{FileSystemID: idFSID, ClientInfo: &efsext.ClientInfo{Source: DefaultClientSource, EFSUtilsVersion: "efs-fuse-test"}}
	if got.FileSystemID != want.FileSystemID || got.AccessPoint != "" || got.IAM != nil || *got.ClientInfo != *want.ClientInfo {
		t.Fatalf("identity %+v", got)
	}
	if h, _ := os.Hostname(); h != "" {
		id := newTestIdentity(t, func(c *IdentityConfig) { c.CommonName = "" })
		tc, _ := id.Certificate()
		if tc.Leaf.Subject.CommonName != h {
			t.Errorf("CN %q, want host name %q", tc.Leaf.Subject.CommonName, h)
		}
	}
}

func TestIdentityKeyCreatedOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "efs")
	path := filepath.Join(dir, "privateKey.pem")
	const n = 4
	keys := make([]*rsa.PublicKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := NewIdentity(context.Background(), IdentityConfig{FSID: idFSID, KeyPath: path, CommonName: "h", Version: "v"})
			if errs[i] = err; err == nil {
				keys[i] = &id.key.PublicKey
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !keys[i].Equal(keys[0]) {
			t.Fatalf("mount %d got a different key: the key was created more than once", i)
		}
	}
	for p, want := range map[string]os.FileMode{path: 0o400, path + ".lock": 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode %04o, want %04o", filepath.Base(p), st.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("key directory holds %d entries (temporary files left?)", len(entries))
	}
}

func TestIdentityBadKeyFile(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	cases := map[string][]byte{
		"Empty":     nil,
		"Garbage":   []byte("not a key\n"),
		"BadDER":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0x03, 1, 2, 3}}),
		"Cert":      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}),
		"ECKey":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"SmallRSA":  pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}),
		"Truncated": sharedKeyPEMForTest(t)[:200],
		"Huge":      bytes.Repeat([]byte("A"), maxKeyFile+10),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "privateKey.pem")
			if err := os.WriteFile(p, data, 0o400); err != nil {
				t.Fatal(err)
			}
			_, err := NewIdentity(context.Background(), IdentityConfig{FSID: idFSID, KeyPath: p, CommonName: "h"})
			if err == nil || !strings.Contains(err.Error(), "is malformed") || !strings.Contains(err.Error(), p) {
				t.Fatalf("got %v, want a clear 'malformed' error naming the file", err)
			}
		})
	}
	t.Run("Directory", func(t *testing.T) {
		_, err := NewIdentity(context.Background(), IdentityConfig{FSID: idFSID, KeyPath: t.TempDir(), CommonName: "h"})
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("got %v", err)
		}
	})
}

func sharedKeyPEMForTest(t *testing.T) []byte {
	p := keyFile(t)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIdentityKeyModeTightened(t *testing.T) {
	p := keyFile(t)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	newTestIdentity(t, func(c *IdentityConfig) { c.KeyPath, c.Logger = p, zap.New(core) })
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o400 {
		t.Fatalf("key mode %04o, want 0400", st.Mode().Perm())
	}
	if logs.FilterMessageSnippet("readable by other users").Len() != 1 {
		t.Fatal("no warning about the key's mode")
	}
}

func TestIdentityCertFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "certificate.pem")
	id := newTestIdentity(t, func(c *IdentityConfig) { c.CertFile = p })
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("certificate file mode %04o, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(p)
	b, _ := pem.Decode(data)
	tc, _ := id.Certificate()
	if b == nil || !bytes.Equal(b.Bytes, tc.Certificate[0]) {
		t.Fatal("certificate file does not hold the current certificate")
	}
}

func TestIdentityExpired(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	id := newTestIdentity(t, func(c *IdentityConfig) { c.Clock = clock.Now })
	clock.Advance(3*time.Hour + time.Second)
	if _, err := id.Certificate(); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("got %v, want an expiry error", err)
	}
	if err := id.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := id.Certificate(); err != nil {
		t.Fatalf("after renewal: %v", err)
	}
}

// peerServer is a TLS echo server that records, per connection, the
// serial of the client certificate it was offered.
func peerServer(t *testing.T) (addr, caFile string, serials <-chan *big.Int) {
	t.Helper()
	leaf, caFile := testca.ServerCert(t, fsName)
	cfg := &tls.Config{Certificates: []tls.Certificate{leaf}, ClientAuth: tls.RequireAnyClientCert}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *big.Int, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				tc := c.(*tls.Conn)
				if tc.Handshake() != nil {
					return
				}
				out <- tc.ConnectionState().PeerCertificates[0].SerialNumber
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String(), caFile, out
}

func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q: %q %v", msg, buf, err)
	}
}

func TestIdentityRenewalKeepsLiveConnections(t *testing.T) {
	addr, caFile, serials := peerServer(t)
	id := newTestIdentity(t, nil)
	cfg := NewConfig(addr, fsName)
	cfg.CAFile, cfg.ClientCertificate = caFile, id.Certificate
	d, err := NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	old, err := d.DialContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	first := <-serials
	if first.Cmp(id.cur.Load().Leaf.SerialNumber) != 0 {
		t.Fatal("server saw a certificate other than the current one")
	}
	echo(t, old, "before renewal")

	if err := id.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	fresh, err := d.DialContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	second := <-serials
	if second.Cmp(first) == 0 || second.Cmp(id.cur.Load().Leaf.SerialNumber) != 0 {
		t.Fatalf("new connection presented serial %x, want the renewed %x", second, id.cur.Load().Leaf.SerialNumber)
	}
	echo(t, old, "old connection still works")
	echo(t, fresh, "new connection works")
}

func TestIdentityRun(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	calls := 0
	var mu sync.Mutex
	// Credentials fail on the second fetch: Run must keep the current
	// certificate, warn, and succeed on a later attempt.
	p := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 2 {
			return aws.Credentials{}, errors.New("metadata service unavailable")
		}
		return aws.Credentials{AccessKeyID: idAK, SecretAccessKey: idSecret}, nil
	})
	id := newTestIdentity(t, func(c *IdentityConfig) {
		// The mount's logger already names the file system.
		c.RenewEvery, c.IAM, c.Logger = 30*time.Millisecond, staticSigner(t, p), zap.New(core).With(zap.String("fs_id", c.FSID))
	})
	first := id.cur.Load()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); id.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for id.cur.Load() == first && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if id.cur.Load() == first {
		t.Fatal("Run never renewed the certificate")
	}
	if logs.FilterMessageSnippet("renewal failed").Len() == 0 {
		t.Error("failed renewal not logged")
	}
	for _, e := range logs.All() {
		seen := map[string]bool{}
		for _, f := range e.Context {
			if seen[f.Key] {
				t.Errorf("log line %q repeats the key %s", e.Message, f.Key)
			}
			seen[f.Key] = true
		}
	}
}

// TestIdentityLogsNoSecrets runs key creation, IAM signing, certificate
// issue, a failed renewal and Run at debug level and searches every log
// message and field for secret material.
func TestIdentityLogsNoSecrets(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	path := filepath.Join(t.TempDir(), "k", "privateKey.pem") // created here: key generation is logged too
	fail := false
	var mu sync.Mutex
	p := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return aws.Credentials{}, fmt.Errorf("refresh failed")
		}
		return aws.Credentials{AccessKeyID: idAK, SecretAccessKey: idSecret, SessionToken: idToken}, nil
	})
	id, err := NewIdentity(context.Background(), IdentityConfig{FSID: idFSID, AccessPoint: idAP, KeyPath: path,
		CommonName: "h", Version: "v", IAM: staticSigner(t, p), Logger: log, RenewEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	id.Run(ctx)
	cancel()
	_ = id.Renew(context.Background())

	tc, _ := id.Certificate()
	ext, _ := efsext.Decode(tc.Leaf)
	keyPEM, _ := os.ReadFile(path)
	keyBody := strings.Join(strings.Split(string(keyPEM), "\n")[1:3], "")
	secrets := []string{idSecret, idToken, idAK, string(ext.IAM.Signature), keyBody}
	if logs.Len() < 2 {
		t.Fatalf("only %d log entries: the test does not exercise logging", logs.Len())
	}
	for _, e := range logs.All() {
		line := e.Message + " " + fmt.Sprint(e.ContextMap())
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log entry %q leaks secret material %.8q...", e.Message, s)
			}
		}
	}
}

// FuzzParseKey feeds arbitrary key-file contents: errors, never panics, and
// anything accepted is an RSA key of at least 2048 bits.
func FuzzParseKey(f *testing.F) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseKey(b)
		if err == nil && (k == nil || k.N.BitLen() < 2048) {
			t.Fatalf("accepted %v", k)
		}
	})
}

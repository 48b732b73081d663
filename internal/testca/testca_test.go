package testca

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadOrCreateReusesCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	a, err := LoadOrCreate(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode = %v, want 0600", st.Mode().Perm())
	}
	b, err := LoadOrCreate(dir, "ignored")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Cert.Equal(b.Cert) {
		t.Error("second LoadOrCreate minted a new CA instead of loading the existing one")
	}
	if b.CertFile() != filepath.Join(dir, CertFileName) {
		t.Errorf("CertFile = %q", b.CertFile())
	}
}

func TestLoadOrCreateRefusesHalfCA(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreate(dir, "x"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, KeyFileName)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir, "x"); err == nil {
		t.Fatal("want an error for a CA directory without its key")
	}
}

func TestIssueVerifies(t *testing.T) {
	ca, err := New("test CA")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, err := ca.Issue(Leaf{DNSNames: []string{"fs-1.efs.us-east-1.amazonaws.com"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), DNSName: "fs-1.efs.us-east-1.amazonaws.com"}
	if _, err := cert.Leaf.Verify(opts); err == nil {
		t.Error("expired leaf verified")
	}
	opts.CurrentTime = now.Add(-90 * time.Minute)
	if _, err := cert.Leaf.Verify(opts); err != nil {
		t.Errorf("leaf does not verify inside its window: %v", err)
	}
	certFile, keyFile, err := ca.IssueFiles(t.TempDir(), "server", Leaf{DNSNames: []string{"a.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file %s: %v %v", keyFile, st, err)
	}
	if _, err := os.Stat(certFile); err != nil {
		t.Error(err)
	}
}

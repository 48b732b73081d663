package testca

import (
	"crypto/tls"
	"testing"
)

// ServerCert returns a server certificate for dnsName issued by a fresh CA
// in a temporary directory, with the CA's certificate file a client
// verifies it with: the usual start of a test's TLS server.
func ServerCert(tb testing.TB, dnsName string) (cert tls.Certificate, caFile string) {
	tb.Helper()
	ca, err := LoadOrCreate(tb.TempDir(), "test CA for "+dnsName)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err = ca.Issue(Leaf{DNSNames: []string{dnsName}})
	if err != nil {
		tb.Fatal(err)
	}
	return cert, ca.CertFile()
}

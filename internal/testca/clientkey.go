package testca

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var clientKey struct {
	once sync.Once
	pem  []byte
	err  error
}

// ClientKeyFile writes an RSA-3072 private key (PKCS#8 PEM, mode 0400, the
// shape of EFS's /etc/amazon/efs/privateKey.pem) into a new temporary
// directory and returns its path. The key is made once per test binary:
// RSA-3072 generation takes a good part of a second. Tests use it so they
// never touch the host's key.
func ClientKeyFile(tb testing.TB) string {
	tb.Helper()
	clientKey.once.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			clientKey.err = err
			return
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		clientKey.pem, clientKey.err = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), err
	})
	if clientKey.err != nil {
		tb.Fatal(clientKey.err)
	}
	path := filepath.Join(tb.TempDir(), "privateKey.pem")
	if err := os.WriteFile(path, clientKey.pem, 0o400); err != nil {
		tb.Fatal(err)
	}
	return path
}

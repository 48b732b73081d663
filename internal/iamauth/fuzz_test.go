package iamauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"testing"
)

// FuzzPublicKeyHash feeds arbitrary bytes where a peer's
// SubjectPublicKeyInfo goes: no panic, and a hash is always 40 hex digits.
func FuzzPublicKeyHash(f *testing.F) {
	der, _ := base64.StdEncoding.DecodeString(efsUtilsPublicKey)
	f.Add(der)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	f.Add(ec)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := PublicKeyHash(b)
		if err == nil && len(h) != 40 {
			t.Fatalf("hash %q", h)
		}
	})
}

package efsext

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	sigTime = time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC)
	fullID  = Identity{
		FileSystemID: "fs-deadbeef",
		AccessPoint:  "fsap-0123456789abcdef0",
		IAM: &IAMAuth{AccessKeyID: "AKIDEXAMPLE", Signature: []byte("6aa643803d4a1b07c5ac87bff96347ef28dab1cb5a5c5d63969c90ca11454c4a"),
			SigV4DateTime: sigTime, SessionToken: "FQoG/token+with=chars"},
		ClientInfo: &ClientInfo{Source: "unknown", EFSUtilsVersion: "2.1.0"},
	}
)

func TestRoundTrip(t *testing.T) {
	noToken := *fullID.IAM
	noToken.SessionToken = ""
	cases := map[string]Identity{
		"Full":        fullID,
		"FSIDOnly":    {FileSystemID: "fs-12345678"},
		"IAMNoToken":  {FileSystemID: "fs-12345678", IAM: &noToken},
		"AccessPoint": {FileSystemID: "fs-12345678", AccessPoint: "fsap-0123456789abcdef0"},
	}
	for name, id := range cases {
		t.Run(name, func(t *testing.T) {
			exts, err := id.Extensions()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range exts {
				if e.Critical {
					t.Errorf("extension %v is critical; EFS extensions are not", e.Id)
				}
			}
			got, err := Decode(selfSigned(t, exts))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, id) {
				t.Fatalf("decoded %+v, want %+v", got, id)
			}
		})
	}
}

func TestExtensionOrder(t *testing.T) {
	exts, err := fullID.Extensions()
	if err != nil {
		t.Fatal(err)
	}
	want := []asn1.ObjectIdentifier{OIDAccessPoint, OIDIAMAuth, OIDFileSystemID, OIDClientInfo}
	if len(exts) != len(want) {
		t.Fatalf("%d extensions, want %d", len(exts), len(want))
	}
	for i, e := range exts {
		if !e.Id.Equal(want[i]) {
			t.Errorf("extension %d is %v, want %v", i, e.Id, want[i])
		}
	}
}

// TestEncodingBytes pins the exact DER, tag by tag.
func TestEncodingBytes(t *testing.T) {
	e, err := FileSystemIDExtension("fs-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x0c, 4, 'f', 's', '-', '1'}; !bytes.Equal(e.Value, want) { // 0x0c = UTF8String
		t.Errorf("fs-id DER % x, want % x", e.Value, want)
	}
	e, err = IAMAuthExtension(IAMAuth{AccessKeyID: "A", Signature: []byte("ab"), SigV4DateTime: sigTime.In(time.FixedZone("x", 3600)), SessionToken: "T"})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x30, 27,
		0x0c, 1, 'A', // accessKeyId UTF8String
		0x04, 2, 'a', 'b', // signature OCTET STRING
		0x17, 13, '0', '0', '0', '1', '0', '1', '1', '2', '0', '0', '0', '0', 'Z', // UTCTime, converted to UTC
		0xa0, 3, 0x0c, 1, 'T', // [0] EXPLICIT UTF8String
	}
	if !bytes.Equal(e.Value, want) {
		t.Errorf("IAM DER\n % x\nwant\n % x", e.Value, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	printable, _ := asn1.Marshal("fs-1") // PrintableString, not UTF8String
	okFS, _ := FileSystemIDExtension("fs-1")
	withZone := []byte{0x30, 0x1a, 0x0c, 1, 'A', 0x04, 2, 'a', 'b', 0x17, 0x11,
		'0', '0', '0', '1', '0', '1', '1', '2', '0', '0', '0', '0', '+', '0', '1', '0', '0'}
	cases := map[string]struct {
		decode func([]byte) error
		der    []byte
	}{
		"PrintableString": {fsDecode, printable},
		"Trailing":        {fsDecode, append(append([]byte{}, okFS.Value...), 0)},
		"Empty":           {fsDecode, []byte{0x0c, 0}},
		"Nothing":         {fsDecode, nil},
		"Truncated":       {fsDecode, okFS.Value[:3]},
		"BadUTF8":         {fsDecode, []byte{0x0c, 1, 0xff}},
		"TimeZone":        {iamDecode, withZone},
		"NoSignature":     {iamDecode, []byte{0x30, 0x12, 0x0c, 1, 'A', 0x04, 0, 0x17, 13, '0', '0', '0', '1', '0', '1', '1', '2', '0', '0', '0', '0', 'Z'}},
		"Huge":            {fsDecode, append([]byte{0x0c, 0x82, 0x50, 0x00}, make([]byte, 0x5000)...)},
		"InfoOneField":    {infoDecode, []byte{0x30, 3, 0x0c, 1, 'x'}},
	}
	for name, c := range cases {
		if err := c.decode(c.der); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func fsDecode(b []byte) error   { _, err := DecodeFileSystemID(b); return err }
func iamDecode(b []byte) error  { _, err := DecodeIAMAuth(b); return err }
func infoDecode(b []byte) error { _, err := DecodeClientInfo(b); return err }

func TestDecodeDuplicate(t *testing.T) {
	e, _ := FileSystemIDExtension("fs-1")
	if _, err := DecodeExtensions([]pkix.Extension{e, e}); err == nil {
		t.Fatal("duplicate fs-id extension accepted")
	}
	if _, err := Decode(nil); err == nil {
		t.Fatal("nil certificate accepted")
	}
}

func TestIAMErrorHidesSecrets(t *testing.T) {
	// A date UTCTime cannot hold fails to encode; the error must not echo the value.
	_, err := IAMAuthExtension(IAMAuth{AccessKeyID: "AK", Signature: []byte("sekrit-signature"), SessionToken: "sekrit-token",
		SigV4DateTime: time.Date(2077, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err == nil {
		t.Fatal("year 2077 encoded as UTCTime")
	}
	if strings.Contains(err.Error(), "sekrit") {
		t.Fatalf("error leaks a secret: %v", err)
	}
}

// TestMatchesOpenSSL builds a certificate with openssl from the same
// configuration syntax efs-utils writes (ASN1:SEQUENCE, OCTETSTRING, UTCTIME,
// EXPLICIT:0,UTF8String) and requires our encoding to be byte-identical.
func TestMatchesOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	conf := `[ req ]
prompt = no
distinguished_name = req_distinguished_name
[ req_distinguished_name ]
CN = host
[ v3_ca ]
subjectKeyIdentifier = hash
1.3.6.1.4.1.4843.7.1 = ASN1:UTF8String:fsap-0123456789abcdef0
1.3.6.1.4.1.4843.7.2 = ASN1:SEQUENCE:efs_client_auth
1.3.6.1.4.1.4843.7.3 = ASN1:UTF8String:fs-deadbeef
1.3.6.1.4.1.4843.7.4 = ASN1:SEQUENCE:efs_client_info
[ efs_client_auth ]
accessKeyId = UTF8String:AKIDEXAMPLE
signature = OCTETSTRING:6aa643803d4a1b07c5ac87bff96347ef28dab1cb5a5c5d63969c90ca11454c4a
sigv4DateTime = UTCTIME:000101120000Z
sessionToken = EXPLICIT:0,UTF8String:FQoG/token+with=chars
[ efs_client_info ]
source = UTF8String:unknown
efs_utils_version = UTF8String:2.1.0
`
	confPath := filepath.Join(dir, "c.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(dir, "c.pem")
	out, err := exec.Command(openssl, "req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", filepath.Join(dir, "k.pem"),
		"-config", confPath, "-extensions", "v3_ca", "-days", "1", "-out", certPath).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(cert)
	if err != nil {
		t.Fatalf("decode openssl certificate: %v", err)
	}
	if !reflect.DeepEqual(got, fullID) {
		t.Fatalf("decoded %+v, want %+v", got, fullID)
	}
	ours, err := fullID.Extensions()
	if err != nil {
		t.Fatal(err)
	}
	byOID := map[string][]byte{}
	for _, e := range cert.Extensions {
		byOID[e.Id.String()] = e.Value
	}
	for _, e := range ours {
		if !bytes.Equal(byOID[e.Id.String()], e.Value) {
			t.Errorf("%v: openssl % x\n ours % x", e.Id, byOID[e.Id.String()], e.Value)
		}
	}
}

func selfSigned(t testing.TB, exts []pkix.Extension) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "h"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), ExtraExtensions: exts}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

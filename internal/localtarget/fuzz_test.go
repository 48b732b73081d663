package localtarget

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/efs-fuse/efs-fuse/internal/efsext"
	"github.com/efs-fuse/efs-fuse/internal/iamauth"
)

// FuzzParseControl feeds arbitrary control-socket lines, split as serve
// splits them: no panic; an accepted command is a known one with its
// durations positive and its arguments exactly those it takes, and its
// canonical spelling parses back to the same command.
func FuzzParseControl(f *testing.F) {
	for _, s := range []string{"blackhole 20s\n", "delay 100ms 1m\n", "heal\n", "cut\n", "restart --grace --kill\n", "restart\n",
		"blackhole\n", "blackhole soon\n", "blackhole -1s\n", "delay 1h2m3.5s 9223372036854775807ns\n", "frobnicate\n", "restart --now\n", "\n", "heal now\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := parseControl(strings.Fields(line))
		if err != nil {
			if err.Error() == "" || !reflect.DeepEqual(c, controlCommand{}) {
				t.Fatalf("parseControl(%q) = %+v, %q", line, c, err)
			}
			return
		}
		want := map[string]int{"blackhole": 1, "delay": 2, "heal": 0, "cut": 0, "restart": 0}
		n, known := want[c.name]
		if !known || len(c.durations) != n {
			t.Fatalf("parseControl(%q) = %+v", line, c)
		}
		canon := []string{c.name}
		for _, d := range c.durations {
			if d <= 0 {
				t.Fatalf("parseControl(%q): duration %v", line, d)
			}
			canon = append(canon, d.String())
		}
		if c.restart.Grace {
			canon = append(canon, "--grace")
		}
		if c.restart.Kill {
			canon = append(canon, "--kill")
		}
		if c.name != "restart" && c.restart != (RestartOptions{}) {
			t.Fatalf("parseControl(%q): restart flags on %s", line, c.name)
		}
		again, err := parseControl(canon)
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("%q parsed to %+v, its canonical form %q to %+v (%v)", line, c, canon, again, err)
		}
	})
}

// nullReply builds a NULL reply record for the seeds.
func nullReply(xid, msgType, replyStat uint32, verf []byte, acceptStat uint32) []byte {
	var body bytes.Buffer
	for _, w := range []uint32{xid, msgType, replyStat, 0, uint32(len(verf))} {
		_ = binary.Write(&body, binary.BigEndian, w)
	}
	body.Write(verf)
	body.Write(make([]byte, (4-len(verf)%4)%4))
	_ = binary.Write(&body, binary.BigEndian, acceptStat)
	return append(binary.BigEndian.AppendUint32(nil, lastFragment|uint32(body.Len())), body.Bytes()...)
}

// FuzzReadNullReply feeds arbitrary server bytes to the NULL probe's reply
// reader: no panic, and success only for a whole last-fragment record of a
// sane size with the expected xid.
func FuzzReadNullReply(f *testing.F) {
	f.Add(uint32(1), nullReply(1, msgReply, replyAccept, nil, acceptOK))
	f.Add(uint32(7), nullReply(7, msgReply, replyAccept, []byte("verf"), acceptOK))
	f.Add(uint32(7), nullReply(7, msgReply, replyAccept, []byte("odd"), 2))
	f.Add(uint32(7), nullReply(8, msgReply, replyAccept, nil, acceptOK))
	f.Add(uint32(7), nullReply(7, msgReply, 1, nil, acceptOK))
	f.Add(uint32(7), append(nullReply(7, msgReply, replyAccept, nil, acceptOK)[:24], 0xff, 0xff, 0xff, 0xfd))
	f.Add(uint32(0), []byte{0x80, 0, 0, 0x18})
	f.Fuzz(func(t *testing.T, xid uint32, data []byte) {
		if err := readNullReply(bytes.NewReader(data), xid); err != nil {
			return
		}
		if len(data) < 4 {
			t.Fatal("accepted without a record mark")
		}
		m := binary.BigEndian.Uint32(data)
		n := int(m &^ lastFragment)
		if m&lastFragment == 0 || n < 24 || n > 1024 || len(data) < 4+n {
			t.Fatalf("accepted record mark %#x with %d bytes", m, len(data))
		}
		if binary.BigEndian.Uint32(data[4:]) != xid {
			t.Fatal("accepted another xid")
		}
	})
}

// fuzzKeyPEM is a fixed P-256 key, so that the IAM seeds (signatures over
// its public key) stay valid in the committed corpus.
const fuzzKeyPEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg31kIZDgD/b6amAnO
Q4EzMvU63NZVp7w5fjUKLFpk6X6hRANCAAR9qjynMQn/sWEZs6mCj1wQqWqVQC9y
7o7n5y1aBZGIfc8TDdJ8YnzrcSiS3ph8XmL6taGZDDbPfTrRzG/rAaE4
-----END PRIVATE KEY-----
`

const (
	fuzzFSID   = "fs-deadbeef"
	fuzzRegion = "us-east-1"
	fuzzAP     = "fsap-0123456789abcdef0"
	fuzzAKID   = "AKIDEXAMPLE"
	fuzzSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

var fuzzNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// FuzzIdentityCheck puts arbitrary values in the four EFS extensions of an
// otherwise well-formed, self-signed client certificate and runs the front
// end's identity check: no panic; a refusal is an *IdentityError that does
// not leak the secret key; an acceptance really names this file system and
// access point with a verifying IAM signature; and a policy that enforces
// nothing never refuses.
func FuzzIdentityCheck(f *testing.F) {
	block, _ := pem.Decode([]byte(fuzzKeyPEM))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		f.Fatal(err)
	}
	key := k.(crypto.Signer)
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		f.Fatal(err)
	}
	signer, err := iamauth.NewWithProvider(credentials.NewStaticCredentialsProvider(fuzzAKID, fuzzSecret, "session/token=="), "static", fuzzRegion, fuzzFSID)
	if err != nil {
		f.Fatal(err)
	}
	iam, err := signer.Sign(context.Background(), spki, fuzzNow.Add(-time.Minute))
	if err != nil {
		f.Fatal(err)
	}
	good := efsext.Identity{FileSystemID: fuzzFSID, AccessPoint: fuzzAP, IAM: &iam, ClientInfo: &efsext.ClientInfo{Source: "unknown", EFSUtilsVersion: "2.1.0"}}
	exts, err := good.Extensions()
	if err != nil {
		f.Fatal(err)
	}
	val := map[string][]byte{}
	for _, e := range exts {
		val[e.Id.String()] = e.Value
	}
	ap, ia, fs, ci := val[efsext.OIDAccessPoint.String()], val[efsext.OIDIAMAuth.String()], val[efsext.OIDFileSystemID.String()], val[efsext.OIDClientInfo.String()]
	f.Add(ap, ia, fs, ci)
	f.Add([]byte(nil), ia, fs, []byte(nil))
	f.Add(ap, []byte(nil), fs, ci)
	f.Add(ap, ia, []byte{0x0c, 0x03, 'f', 's', '-'}, ci)
	f.Add([]byte{0x13, 0x01, 'x'}, ia, fs, []byte{0x30, 0x00})
	f.Add(ap, ia[:len(ia)-1], fs, ci)
	f.Add([]byte(nil), []byte(nil), []byte(nil), []byte(nil))

	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "efs-fuse client"},
		NotBefore:    fuzzNow.Add(-time.Hour),
		NotAfter:     fuzzNow.Add(time.Hour),
	}
	enforcing := &IdentityPolicy{FSID: fuzzFSID, Region: fuzzRegion, RequireAccessPoint: fuzzAP, RequireIAM: true,
		IAMCredentials: map[string]string{fuzzAKID: fuzzSecret}, Now: func() time.Time { return fuzzNow }}
	lax := &IdentityPolicy{FSID: fuzzFSID, Region: fuzzRegion, Now: func() time.Time { return fuzzNow }}
	f.Fuzz(func(t *testing.T, ap, ia, fs, ci []byte) {
		tmpl := *template
		for _, e := range []struct {
			oid []int
			v   []byte
		}{{efsext.OIDAccessPoint, ap}, {efsext.OIDIAMAuth, ia}, {efsext.OIDFileSystemID, fs}, {efsext.OIDClientInfo, ci}} {
			if len(e.v) > 0 {
				tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: e.oid, Value: e.v})
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Skip("not a certificate Go parses:", err) // nothing reaches the check then
		}
		certs := []*x509.Certificate{cert}
		if _, err := lax.Check(certs); err != nil {
			t.Fatalf("a policy enforcing nothing refused: %v", err)
		}
		id, err := enforcing.Check(certs)
		if err != nil {
			var ie *IdentityError
			if !errors.As(err, &ie) || ie.Reason == "" {
				t.Fatalf("refusal %T %v is not an *IdentityError", err, err)
			}
			if strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("refusal leaks the secret: %v", err)
			}
			return
		}
		if id.FileSystemID != fuzzFSID || id.AccessPoint != fuzzAP || id.IAM == nil || id.IAM.AccessKeyID != fuzzAKID {
			t.Fatalf("accepted identity %+v", id)
		}
		if err := iamauth.Verify(*id.IAM, fuzzSecret, cert.RawSubjectPublicKeyInfo, fuzzRegion, fuzzFSID, fuzzNow); err != nil {
			t.Fatalf("accepted an IAM extension that does not verify: %v", err)
		}
		_ = identityFields(id)
	})
}

package localtarget_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/efs-fuse/efs-fuse/internal/iamauth"
	"github.com/efs-fuse/efs-fuse/internal/iamauth/iamauthtest"
	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testca"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

const (
	testAP    = "fsap-0123456789abcdef0"
	otherAP   = "fsap-0123456789abcdef1"
	testFSID  = localtarget.DefaultFSID
	testRegon = localtarget.DefaultRegion
)

var (
	imdsCreds = iamauthtest.Creds{AccessKeyID: "ASIAIMDSTEST", SecretAccessKey: "imds/secret", SessionToken: "imds-token=="}
	ecsCreds  = iamauthtest.Creds{AccessKeyID: "ASIAECSTEST", SecretAccessKey: "ecs/secret", SessionToken: "ecs-token+/"}
)

// identity makes a client identity for testFSID, reusing one RSA-3072 key.
func identity(t *testing.T, ap string, signer *iamauth.Signer) *tunnel.Identity {
	t.Helper()
	path := testca.ClientKeyFile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := tunnel.NewIdentity(ctx, tunnel.IdentityConfig{FSID: testFSID, AccessPoint: ap, KeyPath: path, IAM: signer, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func staticSigner(t *testing.T, c iamauthtest.Creds) *iamauth.Signer {
	t.Helper()
	s, err := iamauth.NewWithProvider(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		"static", testRegon, testFSID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mount dials tg presenting id (nil = no certificate) and runs an NFS NULL
// call: nil means the target accepted the client. A refusal shows as a
// failed handshake (TLS 1.2) or a failed first read (TLS 1.3, where the
// client finishes its handshake before the server judges the certificate).
func mount(t *testing.T, tg *localtarget.Target, id *tunnel.Identity) error {
	t.Helper()
	cfg := tunnel.NewConfig(tg.Addr(), tg.ServerName())
	cfg.CAFile = tg.CAFile()
	if id != nil {
		cfg.ClientCertificate = id.Certificate
	}
	d, err := tunnel.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.DialContext(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	return localtarget.NullPing(conn, 1)
}

func TestIdentityAccessPoint(t *testing.T) {
	tg := testtarget.Start(t, func(o *localtarget.Options) { o.RequireAccessPoint = testAP })
	if err := mount(t, tg, identity(t, testAP, nil)); err != nil {
		t.Fatalf("access point mount refused: %v", err)
	}
	for name, id := range map[string]*tunnel.Identity{
		"NoCertificate": nil,
		"NoAccessPoint": identity(t, "", nil),
		"OtherAP":       identity(t, otherAP, nil),
	} {
		if err := mount(t, tg, id); err == nil {
			t.Errorf("%s: mount accepted", name)
		}
	}
}

func TestIdentityIAM(t *testing.T) {
	iamauthtest.Isolate(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	imds := iamauthtest.NewIMDS(t, imdsCreds)
	ecs := iamauthtest.NewContainerEndpoint(t, "/v2/credentials/task", "", ecsCreds)
	tg := testtarget.Start(t, func(o *localtarget.Options) {
		o.RequireIAM = true
		o.IAMCredentials = map[string]string{imdsCreds.AccessKeyID: imdsCreds.SecretAccessKey, ecsCreds.AccessKeyID: ecsCreds.SecretAccessKey}
	})
	chain := func(sc iamauth.SourceConfig) *iamauth.Signer {
		sc.Region = testRegon
		s, err := iamauth.New(context.Background(), iamauth.Config{SourceConfig: sc, FileSystemID: testFSID})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("IMDSv2", func(t *testing.T) {
		if err := mount(t, tg, identity(t, "", chain(iamauth.SourceConfig{IMDSEndpoint: imds.URL}))); err != nil {
			t.Fatalf("refused: %v", err)
		}
		if imds.Served.Load() == 0 || imds.V1Requests.Load() != 0 {
			t.Fatalf("IMDS served %d, tokenless %d", imds.Served.Load(), imds.V1Requests.Load())
		}
	})
	t.Run("ECS", func(t *testing.T) {
		if err := mount(t, tg, identity(t, testAP, chain(iamauth.SourceConfig{CredsURI: "/v2/credentials/task", ECSEndpoint: ecs.URL}))); err != nil {
			t.Fatalf("refused: %v", err)
		}
		if ecs.Served.Load() == 0 {
			t.Fatal("ECS endpoint not used")
		}
	})
	for name, id := range map[string]*tunnel.Identity{
		"NoIAM":      identity(t, "", nil),
		"BadSecret":  identity(t, "", staticSigner(t, iamauthtest.Creds{AccessKeyID: imdsCreds.AccessKeyID, SecretAccessKey: "wrong"})),
		"UnknownKey": identity(t, "", staticSigner(t, iamauthtest.Creds{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: "x"})),
		"NoCert":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			if err := mount(t, tg, id); err == nil {
				t.Fatal("mount accepted")
			}
		})
	}
}

// TestIdentityRequestOnly: asking for certificates without requiring
// anything accepts every client, with or without a certificate.
func TestIdentityRequestOnly(t *testing.T) {
	tg := testtarget.Start(t, func(o *localtarget.Options) { o.RequestClientCert = true })
	for _, id := range []*tunnel.Identity{nil, identity(t, testAP, nil)} {
		if err := mount(t, tg, id); err != nil {
			t.Fatalf("refused: %v", err)
		}
	}
}

// TestIdentityPolicyCheck exercises the policy without ganesha and checks
// the refusal reasons.
func TestIdentityPolicyCheck(t *testing.T) {
	leaf := func(id *tunnel.Identity) []*x509.Certificate {
		c, err := id.Certificate()
		if err != nil {
			t.Fatal(err)
		}
		return []*x509.Certificate{c.Leaf}
	}
	good := leaf(identity(t, testAP, staticSigner(t, imdsCreds)))
	creds := map[string]string{imdsCreds.AccessKeyID: imdsCreds.SecretAccessKey}
	cases := []struct {
		name   string
		policy localtarget.IdentityPolicy
		certs  []*x509.Certificate
		reason string // "" = accepted
	}{
		{"Accepted", localtarget.IdentityPolicy{RequireAccessPoint: testAP, RequireIAM: true, IAMCredentials: creds}, good, ""},
		{"NoCert", localtarget.IdentityPolicy{RequireAccessPoint: testAP}, nil, "no client certificate"},
		{"OtherAP", localtarget.IdentityPolicy{RequireAccessPoint: otherAP}, good, "the certificate names " + testAP},
		{"NoAP", localtarget.IdentityPolicy{RequireAccessPoint: testAP}, leaf(identity(t, "", nil)), "names none"},
		{"OtherFS", localtarget.IdentityPolicy{FSID: "fs-abc", RequireAccessPoint: testAP}, good, "is for file system " + testFSID},
		{"NoIAM", localtarget.IdentityPolicy{RequireIAM: true, IAMCredentials: creds}, leaf(identity(t, "", nil)), "no IAM extension"},
		{"UnknownKey", localtarget.IdentityPolicy{RequireIAM: true, IAMCredentials: map[string]string{"AK": "s"}}, good, "unknown"},
		{"BadSignature", localtarget.IdentityPolicy{RequireIAM: true, IAMCredentials: map[string]string{imdsCreds.AccessKeyID: "nope"}}, good, "does not match"},
		{"Expired", localtarget.IdentityPolicy{RequireAccessPoint: testAP, Now: func() time.Time { return time.Now().Add(4 * time.Hour) }}, good, "valid only from"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.policy
			if p.FSID == "" {
				p.FSID = testFSID
			}
			p.Region = testRegon
			_, err := p.Check(c.certs)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ie *localtarget.IdentityError
			if !errors.As(err, &ie) || !strings.Contains(ie.Reason, c.reason) {
				t.Fatalf("got %v, want a refusal mentioning %q", err, c.reason)
			}
			for _, secret := range []string{imdsCreds.SecretAccessKey, imdsCreds.SessionToken, "nope"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("refusal leaks a secret: %v", err)
				}
			}
		})
	}
}

func TestIdentityOptionsChecked(t *testing.T) {
	for name, o := range map[string]localtarget.Options{
		"BadAP":      {RequireAccessPoint: "fsap-123"},
		"IAMNoCreds": {RequireIAM: true},
	} {
		o.ExportDir, o.StateDir, o.Listen = t.TempDir(), t.TempDir(), "127.0.0.1:0"
		if _, err := localtarget.Start(context.Background(), o); err == nil {
			t.Errorf("%s: started", name)
		}
	}
}

package iamauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/iamauth"
	"github.com/efs-fuse/efs-fuse/internal/iamauth/iamauthtest"
)

var testCreds = iamauthtest.Creds{AccessKeyID: "ASIATESTKEY", SecretAccessKey: "test/secret+key", SessionToken: "test-session/token=="}

// signWith builds a Signer for sc, signs a fresh key, and checks the result
// verifies with want's secret.
func signWith(t *testing.T, sc iamauth.SourceConfig, want iamauthtest.Creds) {
	t.Helper()
	sc.Region = "us-east-1"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := iamauth.New(ctx, iamauth.Config{SourceConfig: sc, FileSystemID: "fs-12345678"})
	if err != nil {
		t.Fatal(err)
	}
	spki := testSPKI(t)
	now := time.Now()
	a, err := s.Sign(ctx, spki, now)
	if err != nil {
		t.Fatalf("sign (%s): %v", s.Source(), err)
	}
	if a.AccessKeyID != want.AccessKeyID || a.SessionToken != want.SessionToken {
		t.Fatalf("signed with key %q token %q, want %q %q", a.AccessKeyID, a.SessionToken, want.AccessKeyID, want.SessionToken)
	}
	if err := iamauth.Verify(a, want.SecretAccessKey, spki, "us-east-1", "fs-12345678", now); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

func TestIMDSv2(t *testing.T) {
	iamauthtest.Isolate(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	imds := iamauthtest.NewIMDS(t, testCreds)
	signWith(t, iamauth.SourceConfig{IMDSEndpoint: imds.URL}, testCreds)
	if imds.Served.Load() == 0 || imds.V1Requests.Load() != 0 {
		t.Fatalf("served %d, tokenless requests %d: want IMDSv2 only", imds.Served.Load(), imds.V1Requests.Load())
	}
}

func TestECSCredsURI(t *testing.T) {
	iamauthtest.Isolate(t)
	ecs := iamauthtest.NewContainerEndpoint(t, "/v2/credentials/abc", "", testCreds)
	signWith(t, iamauth.SourceConfig{CredsURI: "/v2/credentials/abc", ECSEndpoint: ecs.URL}, testCreds)
	if ecs.Served.Load() == 0 {
		t.Fatal("ECS endpoint not used")
	}
}

func TestECSCredsURIMalformed(t *testing.T) {
	iamauthtest.Isolate(t)
	_, _, err := iamauth.NewProvider(context.Background(), iamauth.SourceConfig{CredsURI: "v2/x", Region: "us-east-1"})
	if err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("got %v", err)
	}
}

func TestEKSPodIdentity(t *testing.T) {
	iamauthtest.Isolate(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("pod-identity-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	eks := iamauthtest.NewContainerEndpoint(t, "/v1/credentials", "pod-identity-token", testCreds)
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", eks.URL+"/v1/credentials")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokenFile)
	signWith(t, iamauth.SourceConfig{}, testCreds)
}

func TestEnvironment(t *testing.T) {
	iamauthtest.Isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	signWith(t, iamauth.SourceConfig{}, iamauthtest.Creds{AccessKeyID: "AKIAENV", SecretAccessKey: "env-secret"})
}

func TestProfile(t *testing.T) {
	iamauthtest.Isolate(t)
	// Environment keys must lose to an explicit awsprofile.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	credFile := filepath.Join(t.TempDir(), "credentials")
	body := "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = d\n\n[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = dev-secret\naws_session_token = dev-token\n"
	if err := os.WriteFile(credFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credFile)
	signWith(t, iamauth.SourceConfig{Profile: "dev"}, iamauthtest.Creds{AccessKeyID: "AKIADEV", SecretAccessKey: "dev-secret", SessionToken: "dev-token"})

	_, _, err := iamauth.NewProvider(context.Background(), iamauth.SourceConfig{Profile: "nosuch", Region: "us-east-1"})
	if err == nil {
		t.Fatal("missing profile accepted")
	}
}

func TestWebIdentityOptions(t *testing.T) {
	iamauthtest.Isolate(t)
	sts := iamauthtest.NewSTS(t, testCreds)
	jwt := filepath.Join(t.TempDir(), "jwt")
	if err := os.WriteFile(jwt, []byte("header.payload.sig"), 0o600); err != nil {
		t.Fatal(err)
	}
	signWith(t, iamauth.SourceConfig{RoleARN: "arn:aws:iam::123456789012:role/efs", JWTPath: jwt, STSEndpoint: sts.URL}, testCreds)
	if got := sts.LastRoleARN.Load(); got != "arn:aws:iam::123456789012:role/efs" {
		t.Fatalf("STS saw role %v", got)
	}
	if got := sts.LastToken.Load(); got != "header.payload.sig" {
		t.Fatalf("STS saw token %v", got)
	}
}

func TestWebIdentityIRSAEnv(t *testing.T) {
	iamauthtest.Isolate(t)
	sts := iamauthtest.NewSTS(t, testCreds)
	jwt := filepath.Join(t.TempDir(), "jwt")
	if err := os.WriteFile(jwt, []byte("irsa.token.sig"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", jwt)
	signWith(t, iamauth.SourceConfig{STSEndpoint: sts.URL}, testCreds)
	if got := sts.LastToken.Load(); got != "irsa.token.sig" {
		t.Fatalf("STS saw token %v", got)
	}
}

func TestRoleARNNeedsJWTPath(t *testing.T) {
	_, _, err := iamauth.NewProvider(context.Background(), iamauth.SourceConfig{RoleARN: "arn:x", Region: "us-east-1"})
	if err == nil {
		t.Fatal("rolearn without jwtpath accepted")
	}
}

func TestNoCredentials(t *testing.T) {
	iamauthtest.Isolate(t)
	s, err := iamauth.New(context.Background(), iamauth.Config{SourceConfig: iamauth.SourceConfig{Region: "us-east-1"}, FileSystemID: "fs-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Sign(ctx, testSPKI(t), time.Now()); err == nil {
		t.Fatal("signed without any credentials")
	}
}

func TestVerify(t *testing.T) {
	spki := testSPKI(t)
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	s, err := iamauth.NewWithProvider(staticProvider(testCreds), "test", "us-east-1", "fs-12345678")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Sign(context.Background(), spki, now)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, err error, want error) {
		t.Helper()
		if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("%s: got %v, want %v", name, err, want)
		}
	}
	check("Good", iamauth.Verify(a, testCreds.SecretAccessKey, spki, "us-east-1", "fs-12345678", now), nil)
	check("OldButValid", iamauth.Verify(a, testCreds.SecretAccessKey, spki, "us-east-1", "fs-12345678", now.Add(23*time.Hour)), nil)
	check("Expired", iamauth.Verify(a, testCreds.SecretAccessKey, spki, "us-east-1", "fs-12345678", now.Add(25*time.Hour)), iamauth.ErrExpired)
	check("Future", iamauth.Verify(a, testCreds.SecretAccessKey, spki, "us-east-1", "fs-12345678", now.Add(-time.Hour)), iamauth.ErrFuture)
	check("WrongSecret", iamauth.Verify(a, "other", spki, "us-east-1", "fs-12345678", now), iamauth.ErrBadSignature)
	check("WrongRegion", iamauth.Verify(a, testCreds.SecretAccessKey, spki, "eu-west-1", "fs-12345678", now), iamauth.ErrBadSignature)
	check("WrongFS", iamauth.Verify(a, testCreds.SecretAccessKey, spki, "us-east-1", "fs-87654321", now), iamauth.ErrBadSignature)
	check("WrongKey", iamauth.Verify(a, testCreds.SecretAccessKey, testSPKI(t), "us-east-1", "fs-12345678", now), iamauth.ErrBadSignature)
	b := a
	b.SessionToken = "tampered"
	check("Token", iamauth.Verify(b, testCreds.SecretAccessKey, spki, "us-east-1", "fs-12345678", now), iamauth.ErrBadSignature)
	b = a
	b.SigV4DateTime = a.SigV4DateTime.Add(time.Second)
	check("Time", iamauth.Verify(b, testCreds.SecretAccessKey, spki, "us-east-1", "fs-12345678", now), iamauth.ErrBadSignature)
}

func testSPKI(t testing.TB) []byte {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // any key type: only its bits are hashed
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

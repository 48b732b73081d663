package iamauth

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/efs-fuse/efs-fuse/internal/efsext"
)

// MaxClockSkew is how far in the future a signing time may be before the
// verifier refuses it; the same 15 minutes AWS allows for SigV4 requests.
const MaxClockSkew = 15 * time.Minute

// Errors Verify returns (wrapped).
var (
	ErrBadSignature = errors.New("the IAM signature does not match")
	ErrExpired      = errors.New("the IAM signature has expired")
	ErrFuture       = errors.New("the IAM signing time is in the future")
)

// Signer makes the IAM extension for one file system in one region, with
// fresh credentials at every call. Safe for concurrent use.
type Signer struct {
	creds  aws.CredentialsProvider
	source string
	region string
	fsID   string
}

// Config is what New needs: where credentials come from, and what to sign.
type Config struct {
	SourceConfig
	FileSystemID string
}

// New builds a Signer whose credentials come from cfg's source.
func New(ctx context.Context, cfg Config) (*Signer, error) {
	p, source, err := NewProvider(ctx, cfg.SourceConfig)
	if err != nil {
		return nil, err
	}
	return NewWithProvider(p, source, cfg.Region, cfg.FileSystemID)
}

// NewWithProvider builds a Signer over any credentials provider; source is
// a description for logs (never a key).
func NewWithProvider(p aws.CredentialsProvider, source, region, fsID string) (*Signer, error) {
	if p == nil || region == "" || fsID == "" {
		return nil, errors.New("iamauth: a credentials provider, a region and a file system ID are required")
	}
	return &Signer{creds: p, source: source, region: region, fsID: fsID}, nil
}

// Source describes where credentials come from (safe to log).
func (s *Signer) Source() string { return s.source }

// Region is the region signed into the credential scope.
func (s *Signer) Region() string { return s.region }

// Sign retrieves credentials and signs the Connect request for the public
// key spkiDER (a DER SubjectPublicKeyInfo) at time t, rounded down to the
// second so the certificate's UTCTime and X-Amz-Date agree.
func (s *Signer) Sign(ctx context.Context, spkiDER []byte, t time.Time) (efsext.IAMAuth, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, staticTimeout)
		defer cancel()
	}
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return efsext.IAMAuth{}, fmt.Errorf("iamauth: get AWS credentials (%s): %w", s.source, err)
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return efsext.IAMAuth{}, fmt.Errorf("iamauth: AWS credentials from %s are incomplete", s.source)
	}
	pkh, err := PublicKeyHash(spkiDER)
	if err != nil {
		return efsext.IAMAuth{}, err
	}
	t = t.UTC().Truncate(time.Second)
	r := ConnectRequest{PublicKeyHash: pkh, AccessKeyID: creds.AccessKeyID, SessionToken: creds.SessionToken,
		Region: s.region, FileSystemID: s.fsID, Time: t}
	return efsext.IAMAuth{
		AccessKeyID:   creds.AccessKeyID,
		Signature:     []byte(ConnectSignature(creds.SecretAccessKey, r)),
		SigV4DateTime: t,
		SessionToken:  creds.SessionToken,
	}, nil
}

// Verify checks an IAM extension as the server side would: the signature
// must be the Connect signature for this key, file system and region with
// secret, and the signing time must be at most ExpiresSecond old and at most
// MaxClockSkew ahead of now. It never reveals the expected signature.
func Verify(a efsext.IAMAuth, secret string, spkiDER []byte, region, fsID string, now time.Time) error {
	t := a.SigV4DateTime.UTC()
	if age := now.Sub(t); age > ExpiresSecond*time.Second {
		return fmt.Errorf("%w (signed %s ago, valid for %ds)", ErrExpired, age.Round(time.Second), ExpiresSecond)
	}
	if ahead := t.Sub(now); ahead > MaxClockSkew {
		return fmt.Errorf("%w (%s ahead; check the client's clock)", ErrFuture, ahead.Round(time.Second))
	}
	pkh, err := PublicKeyHash(spkiDER)
	if err != nil {
		return err
	}
	want := ConnectSignature(secret, ConnectRequest{PublicKeyHash: pkh, AccessKeyID: a.AccessKeyID,
		SessionToken: a.SessionToken, Region: region, FileSystemID: fsID, Time: t})
	if !hmac.Equal([]byte(want), a.Signature) {
		return ErrBadSignature
	}
	return nil
}

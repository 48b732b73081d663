// Package iamauth produces (and checks) the IAM authorization EFS reads from
// the client certificate: AWS credentials from the SDK for Go v2 chain and a
// SigV4 signature over a fixed "Connect" request bound to the certificate's
// public key.
//
// The request format reproduces amazon-efs-utils byte for byte (see
// CanonicalRequest); it is not quite standard SigV4: the canonical headers
// block is NOT followed by the usual blank line, and every query value is
// form-encoded (Python's quote_plus). Both quirks are part of what EFS
// verifies, so they are kept.
package iamauth

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Fixed parts of the Connect request.
const (
	Service       = "elasticfilesystem"
	Algorithm     = "AWS4-HMAC-SHA256"
	ExpiresSecond = 86400 // X-Amz-Expires: the signature is good for a day
	amzDateFormat = "20060102T150405Z"
	dateFormat    = "20060102"
	scopeTerm     = "aws4_request"
	// emptyPayloadHash is hex(SHA-256("")).
	emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// ConnectRequest is everything the Connect signature covers.
type ConnectRequest struct {
	PublicKeyHash string    // PublicKeyHash(spki): hex SHA-1 of the key bits
	AccessKeyID   string    //
	SessionToken  string    // "" for long-term keys; a secret
	Region        string    // e.g. us-east-1
	FileSystemID  string    // the host header: fs-12345678
	Time          time.Time // X-Amz-Date; only whole UTC seconds are signed
}

// PublicKeyHash is hex(SHA-1(subjectPublicKey)) for a DER
// SubjectPublicKeyInfo: the BIT STRING's content without its unused-bits
// octet, i.e. RFC 5280 4.2.1.2 method 1, which is what efs-utils computes
// with openssl asn1parse (get_public_key_sha1).
func PublicKeyHash(spkiDER []byte) (string, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(spkiDER, &spki)
	if err != nil {
		return "", fmt.Errorf("iamauth: parse public key: %w", err)
	}
	if len(rest) != 0 {
		return "", errors.New("iamauth: parse public key: trailing data")
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

// CredentialScope is date/region/elasticfilesystem/aws4_request.
func CredentialScope(t time.Time, region string) string {
	return strings.Join([]string{t.UTC().Format(dateFormat), region, Service, scopeTerm}, "/")
}

// CanonicalQuery is the sorted, form-encoded query string. The session token
// parameter is present only when there is a token; it sorts between
// X-Amz-Expires and X-Amz-SignedHeaders.
func CanonicalQuery(r ConnectRequest) string {
	t := r.Time.UTC()
	params := map[string]string{
		"Action":              "Connect",
		"PublicKeyHash":       quotePlus(r.PublicKeyHash),
		"X-Amz-Algorithm":     Algorithm,
		"X-Amz-Credential":    quotePlus(r.AccessKeyID + "/" + CredentialScope(t, r.Region)),
		"X-Amz-Date":          quotePlus(t.Format(amzDateFormat)),
		"X-Amz-Expires":       fmt.Sprint(ExpiresSecond),
		"X-Amz-SignedHeaders": "host",
	}
	if r.SessionToken != "" {
		params["X-Amz-Security-Token"] = quotePlus(r.SessionToken)
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys) // byte order, as Python's sorted() on str keys
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + params[k])
	}
	return b.String()
}

// CanonicalRequest is
//
//	GET\n/\n<query>\nhost:<fs-id>\nhost\n<sha256("")>
//
// exactly as efs-utils' create_canonical_request builds it (no blank line
// after the header block, unlike textbook SigV4).
func CanonicalRequest(r ConnectRequest) string {
	return "GET\n/\n" + CanonicalQuery(r) + "\nhost:" + r.FileSystemID + "\nhost\n" + emptyPayloadHash
}

// StringToSign is the SigV4 string to sign for a canonical request.
func StringToSign(canonicalRequest string, t time.Time, region string, service string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return Algorithm + "\n" + t.UTC().Format(amzDateFormat) + "\n" +
		strings.Join([]string{t.UTC().Format(dateFormat), region, service, scopeTerm}, "/") + "\n" + hex.EncodeToString(sum[:])
}

// SigningKey derives the SigV4 key: HMAC chain over date, region, service
// and "aws4_request", starting from "AWS4"+secret.
func SigningKey(secret string, t time.Time, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), t.UTC().Format(dateFormat))
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, scopeTerm)
}

// SignString returns hex(HMAC-SHA256(signingKey, stringToSign)).
func SignString(signingKey []byte, stringToSign string) string {
	return hex.EncodeToString(hmacSHA256(signingKey, stringToSign))
}

// ConnectSignature signs r with secret: the lowercase hex signature that goes
// into the certificate's IAM extension.
func ConnectSignature(secret string, r ConnectRequest) string {
	sts := StringToSign(CanonicalRequest(r), r.Time, r.Region, Service)
	return SignString(SigningKey(secret, r.Time, r.Region, Service), sts)
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// quotePlus is Python's urllib.parse.quote_plus with its default safe set:
// letters, digits and "_.-~" stay, space becomes "+", every other byte of the
// UTF-8 form becomes %XX (upper-case hex). url.QueryEscape does exactly this.
func quotePlus(s string) string { return url.QueryEscape(s) }

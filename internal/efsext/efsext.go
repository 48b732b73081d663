// Package efsext encodes and decodes the X.509 extensions through which an
// EFS client states its identity in its TLS client certificate: the file
// system, the access point, IAM authorization (a SigV4 "Connect" signature)
// and client information. The client (tunnel.Identity) encodes them and the
// local mount target decodes them, so both sides share one definition.
//
// The layouts follow what amazon-efs-utils asks openssl to produce
// (ASN1:UTF8String, ASN1:SEQUENCE with OCTETSTRING, UTCTIME and
// EXPLICIT:0,UTF8String fields). Decoding is strict: input must be the exact
// DER that Encode would produce, so the local target catches a client that
// drifts from that format instead of silently accepting it.
package efsext

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"
)

// The private-enterprise OIDs EFS reads (arc 4843 is Amazon's).
var (
	OIDAccessPoint  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 4843, 7, 1}
	OIDIAMAuth      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 4843, 7, 2}
	OIDFileSystemID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 4843, 7, 3}
	OIDClientInfo   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 4843, 7, 4}
)

// maxValueLen bounds every decoded extension value. Real values are a few
// hundred bytes (a session token is the largest, ~1-2 KiB); the bound keeps a
// hostile peer from making the target parse megabytes.
const maxValueLen = 16 << 10

// IAMAuth is the value of the IAM extension (1.3.6.1.4.1.4843.7.2):
//
//	SEQUENCE {
//	  accessKeyId   UTF8String,
//	  signature     OCTET STRING,            -- the SigV4 signature as lowercase hex ASCII
//	  sigv4DateTime UTCTime,                 -- the X-Amz-Date that was signed, whole seconds, UTC
//	  sessionToken  [0] EXPLICIT UTF8String OPTIONAL
//	}
//
// Signature and SessionToken are secrets: never log this value.
type IAMAuth struct {
	AccessKeyID   string    `asn1:"utf8"`
	Signature     []byte    // hex ASCII, as openssl's OCTETSTRING:<hex> stores it
	SigV4DateTime time.Time `asn1:"utc"`
	SessionToken  string    `asn1:"explicit,tag:0,optional,utf8"`
}

// ClientInfo is the value of the client-info extension (1.3.6.1.4.1.4843.7.4):
// SEQUENCE { source UTF8String, efs_utils_version UTF8String }.
type ClientInfo struct {
	Source          string `asn1:"utf8"`
	EFSUtilsVersion string `asn1:"utf8"`
}

// Identity is every EFS extension a certificate may carry. Empty strings and
// nil pointers mean "extension absent".
type Identity struct {
	FileSystemID string
	AccessPoint  string
	IAM          *IAMAuth
	ClientInfo   *ClientInfo
}

// Extensions encodes id in the order efs-utils emits them (7.1, 7.2, 7.3,
// 7.4), all non-critical. FileSystemID is required.
func (id Identity) Extensions() ([]pkix.Extension, error) {
	if id.FileSystemID == "" {
		return nil, errors.New("efsext: a file system ID is required")
	}
	var exts []pkix.Extension
	add := func(e pkix.Extension, err error) error {
		if err != nil {
			return err
		}
		exts = append(exts, e)
		return nil
	}
	if id.AccessPoint != "" {
		if err := add(AccessPointExtension(id.AccessPoint)); err != nil {
			return nil, err
		}
	}
	if id.IAM != nil {
		if err := add(IAMAuthExtension(*id.IAM)); err != nil {
			return nil, err
		}
	}
	if err := add(FileSystemIDExtension(id.FileSystemID)); err != nil {
		return nil, err
	}
	if id.ClientInfo != nil {
		if err := add(ClientInfoExtension(*id.ClientInfo)); err != nil {
			return nil, err
		}
	}
	return exts, nil
}

// AccessPointExtension encodes an access point ID as a UTF8String extension.
func AccessPointExtension(apID string) (pkix.Extension, error) {
	return utf8Extension(OIDAccessPoint, "access point ID", apID)
}

// FileSystemIDExtension encodes a file system ID as a UTF8String extension.
func FileSystemIDExtension(fsID string) (pkix.Extension, error) {
	return utf8Extension(OIDFileSystemID, "file system ID", fsID)
}

// IAMAuthExtension encodes a. SigV4DateTime is converted to UTC and truncated
// to whole seconds (UTCTime has no fractions), so sign with the same rounded
// instant.
func IAMAuthExtension(a IAMAuth) (pkix.Extension, error) {
	if a.AccessKeyID == "" || len(a.Signature) == 0 {
		return pkix.Extension{}, errors.New("efsext: IAM extension needs an access key ID and a signature")
	}
	a.SigV4DateTime = a.SigV4DateTime.UTC().Truncate(time.Second)
	if !utcTimeRange(a.SigV4DateTime) {
		// encoding/asn1 would silently switch to GeneralizedTime, which EFS does not expect.
		return pkix.Extension{}, fmt.Errorf("efsext: IAM signing time %d is outside UTCTime's years 1950-2049", a.SigV4DateTime.Year())
	}
	der, err := asn1.Marshal(a)
	if err != nil {
		// Never wrap a with %v: it holds the signature and session token.
		return pkix.Extension{}, fmt.Errorf("efsext: encode IAM extension: %w", err)
	}
	return pkix.Extension{Id: OIDIAMAuth, Value: der}, nil
}

// ClientInfoExtension encodes c.
func ClientInfoExtension(c ClientInfo) (pkix.Extension, error) {
	der, err := asn1.Marshal(c)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("efsext: encode client info extension: %w", err)
	}
	return pkix.Extension{Id: OIDClientInfo, Value: der}, nil
}

func utf8Extension(oid asn1.ObjectIdentifier, what, s string) (pkix.Extension, error) {
	if s == "" {
		return pkix.Extension{}, fmt.Errorf("efsext: empty %s", what)
	}
	der, err := asn1.MarshalWithParams(s, "utf8")
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("efsext: encode %s: %w", what, err)
	}
	return pkix.Extension{Id: oid, Value: der}, nil
}

// Decode reads every EFS extension of cert. Other extensions are ignored; a
// duplicated or malformed EFS extension is an error.
func Decode(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, errors.New("efsext: no certificate")
	}
	return DecodeExtensions(cert.Extensions)
}

// DecodeExtensions is Decode over a raw extension list.
func DecodeExtensions(exts []pkix.Extension) (Identity, error) {
	var id Identity
	seen := map[int]bool{}
	for _, e := range exts {
		which := efsArc(e.Id)
		if which == 0 {
			continue
		}
		if seen[which] {
			return Identity{}, fmt.Errorf("efsext: extension %v appears more than once", e.Id)
		}
		seen[which] = true
		var err error
		switch which {
		case 1:
			id.AccessPoint, err = DecodeAccessPoint(e.Value)
		case 2:
			var a IAMAuth
			if a, err = DecodeIAMAuth(e.Value); err == nil {
				id.IAM = &a
			}
		case 3:
			id.FileSystemID, err = DecodeFileSystemID(e.Value)
		case 4:
			var c ClientInfo
			if c, err = DecodeClientInfo(e.Value); err == nil {
				id.ClientInfo = &c
			}
		}
		if err != nil {
			return Identity{}, err
		}
	}
	return id, nil
}

// efsArc returns n for OID 1.3.6.1.4.1.4843.7.n with n in 1..4, else 0.
func efsArc(oid asn1.ObjectIdentifier) int {
	for n, known := range []asn1.ObjectIdentifier{OIDAccessPoint, OIDIAMAuth, OIDFileSystemID, OIDClientInfo} {
		if oid.Equal(known) {
			return n + 1
		}
	}
	return 0
}

// DecodeAccessPoint decodes the access point extension value.
func DecodeAccessPoint(der []byte) (string, error) {
	return decodeUTF8(der, "access point ID")
}

// DecodeFileSystemID decodes the file system ID extension value.
func DecodeFileSystemID(der []byte) (string, error) {
	return decodeUTF8(der, "file system ID")
}

// DecodeIAMAuth decodes the IAM extension value.
func DecodeIAMAuth(der []byte) (IAMAuth, error) {
	var a IAMAuth
	// Re-encoding in UTC makes a UTCTime with a zone offset fail the round trip.
	reencode := func() ([]byte, error) { u := a; u.SigV4DateTime = u.SigV4DateTime.UTC(); return asn1.Marshal(u) }
	if err := decodeStrict(der, &a, "IAM", reencode); err != nil {
		return IAMAuth{}, err
	}
	if !utcTimeRange(a.SigV4DateTime) {
		return IAMAuth{}, errors.New("efsext: malformed IAM extension: the signing time is not a UTCTime")
	}
	if a.AccessKeyID == "" || len(a.Signature) == 0 {
		return IAMAuth{}, errors.New("efsext: IAM extension has an empty access key ID or signature")
	}
	return a, nil
}

// DecodeClientInfo decodes the client-info extension value.
func DecodeClientInfo(der []byte) (ClientInfo, error) {
	var c ClientInfo
	if err := decodeStrict(der, &c, "client info", func() ([]byte, error) { return asn1.Marshal(c) }); err != nil {
		return ClientInfo{}, err
	}
	return c, nil
}

// utcTimeRange reports whether t can be a UTCTime (two-digit years 1950-2049).
func utcTimeRange(t time.Time) bool { return t.Year() >= 1950 && t.Year() < 2050 }

func decodeUTF8(der []byte, what string) (string, error) {
	var s string
	if err := decodeStrict(der, &s, what, func() ([]byte, error) { return asn1.MarshalWithParams(s, "utf8") }, "utf8"); err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("efsext: empty %s", what)
	}
	return s, nil
}

// decodeStrict unmarshals der into v and then requires that re-encoding
// gives back exactly der. encoding/asn1 alone accepts any string type for a
// Go string, BER-ish lengths in places, time zones in UTCTime and trailing
// bytes; the round trip rejects all of those in one rule.
func decodeStrict(der []byte, v any, what string, reencode func() ([]byte, error), params ...string) error {
	if len(der) > maxValueLen {
		return fmt.Errorf("efsext: %s extension is %d bytes (limit %d)", what, len(der), maxValueLen)
	}
	p := ""
	if len(params) > 0 {
		p = params[0]
	}
	rest, err := asn1.UnmarshalWithParams(der, v, p)
	if err != nil {
		return fmt.Errorf("efsext: malformed %s extension: %w", what, err)
	}
	if len(rest) > 0 {
		return fmt.Errorf("efsext: malformed %s extension: %d trailing bytes", what, len(rest))
	}
	again, err := reencode()
	if err != nil || !bytes.Equal(again, der) {
		return fmt.Errorf("efsext: malformed %s extension: not in the canonical DER form (wrong string type, time zone or encoding)", what)
	}
	return nil
}

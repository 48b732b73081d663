package iamauth

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// AWS's published SigV4 example ("Examples of the complete Signature
// Version 4 signing process", IAM ListUsers, 2015-08-30).
const (
	awsExampleSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	awsExampleCanon  = "GET\n/\nAction=ListUsers&Version=2010-05-08\n" +
		"content-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n" +
		"content-type;host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

var awsExampleTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)

func TestAWSPublishedSigningKey(t *testing.T) {
	got := hex.EncodeToString(SigningKey(awsExampleSecret, awsExampleTime, "us-east-1", "iam"))
	if want := "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"; got != want {
		t.Fatalf("signing key %s, want %s", got, want)
	}
}

func TestAWSPublishedListUsersSignature(t *testing.T) {
	sts := StringToSign(awsExampleCanon, awsExampleTime, "us-east-1", "iam")
	wantSTS := "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n" +
		"f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
	if sts != wantSTS {
		t.Fatalf("string to sign\n%s\nwant\n%s", sts, wantSTS)
	}
	got := SignString(SigningKey(awsExampleSecret, awsExampleTime, "us-east-1", "iam"), sts)
	if want := "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

// Vectors from amazon-efs-utils' own unit tests
// (test/mount_efs_test/test_create_self_signed_cert.py): matching them shows
// the Connect request is built byte for byte as the mount helper builds it.
var efsUtilsTime = time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC)

func TestEFSUtilsCanonicalRequest(t *testing.T) {
	r := ConnectRequest{PublicKeyHash: "fake_public_key_hash", AccessKeyID: "FAKE_AWS_ACCESS_KEY_ID",
		Region: "us-east-1", FileSystemID: "fs-deadbeef", Time: efsUtilsTime}
	want := "GET\n/\nAction=Connect&PublicKeyHash=fake_public_key_hash&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" +
		"FAKE_AWS_ACCESS_KEY_ID%2F20000101%2Fus-east-1%2Felasticfilesystem%2Faws4_request&X-Amz-Date=20000101T120000Z&" +
		"X-Amz-Expires=86400&X-Amz-SignedHeaders=host\nhost:fs-deadbeef\nhost\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got := CanonicalRequest(r); got != want {
		t.Errorf("without token:\n%q\nwant\n%q", got, want)
	}
	r.SessionToken = "FAKE_SESSION_TOKEN"
	want = "GET\n/\nAction=Connect&PublicKeyHash=fake_public_key_hash&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" +
		"FAKE_AWS_ACCESS_KEY_ID%2F20000101%2Fus-east-1%2Felasticfilesystem%2Faws4_request&X-Amz-Date=20000101T120000Z&" +
		"X-Amz-Expires=86400&X-Amz-Security-Token=FAKE_SESSION_TOKEN&X-Amz-SignedHeaders=host\nhost:fs-deadbeef\nhost" +
		"\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got := CanonicalRequest(r); got != want {
		t.Errorf("with token:\n%q\nwant\n%q", got, want)
	}
}

func TestEFSUtilsStringToSign(t *testing.T) {
	got := StringToSign("canonical_request", efsUtilsTime, "us-east-1", Service)
	want := "AWS4-HMAC-SHA256\n20000101T120000Z\n20000101/us-east-1/elasticfilesystem/aws4_request\n" +
		"572b1e335109068b81e4def81524c5fe5d0e385143b5656cbf2f7c88e5c1a51e"
	if got != want {
		t.Fatalf("%q\nwant\n%q", got, want)
	}
}

func TestEFSUtilsSignature(t *testing.T) {
	got := SignString(SigningKey("FAKE_AWS_SECRET_ACCESS_KEY", efsUtilsTime, "us-east-1", Service), "string_to_sign")
	if want := "6aa643803d4a1b07c5ac87bff96347ef28dab1cb5a5c5d63969c90ca11454c4a"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

// efsUtilsPublicKey is the RSA-3072 public key of efs-utils' test suite.
const efsUtilsPublicKey = "MIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEArGJgJTTwefL+jHV8A9EM" +
	"pX56n3ZJczM+4iPPSnledJzBcUO1VF+j6TOzy39BWBtvRjSs0nqd5wqw+1xHawhh" +
	"dJF5KsqMNGcP/y9fLi9Bm1vInHfQVan4NhXWh8SNbRZM1tNZV5/k+VnFur6ACHwq" +
	"eWppGXkGBASL0zG0MiCbOVMkwfv/E69APVC6ljnPXBWaDuggAClYheTv5RIU4wD1" +
	"c1nohRb0ZHyfZjELjnqLfY0eOqY+msQXzP0eUmZXCMvUkGxi5DJnNVKhw5y96QbB" +
	"RFO5ImQXpNsQmp8F9Ih1RIxNsl4csaEuK+/ZoJ68vR47oQNtPp1PjdIwcnQ3cOvO" +
	"HMxulMX21Fd/e9TsnqISOTOyebmYFgaHczg4JVu5lV699+7QWJm1a7M4ab0WgVVR" +
	"z27J0Lx/691MZB4TbGoEIFza30/sk6uTPxAzebzCaroXzT7uA6TIRtRpxt4X9a+4" +
	"6GhfgR5RJfFMb8rPGmaKWqA2YkTsZzRGHhbAzsJ/nEstAgMBAAE="

func TestEFSUtilsPublicKeyHash(t *testing.T) {
	der, err := base64.StdEncoding.DecodeString(efsUtilsPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := PublicKeyHash(der)
	if err != nil {
		t.Fatal(err)
	}
	if want := "d9c2a68f2c4de49982e310d95e539a89abd6bc13"; got != want {
		t.Fatalf("public key hash %s, want %s", got, want)
	}
	if _, err := PublicKeyHash(der[:40]); err == nil {
		t.Fatal("truncated key hashed without error")
	}
	if _, err := PublicKeyHash(append(der, 0)); err == nil {
		t.Fatal("key with trailing byte hashed without error")
	}
}

// TestQuotePlus pins Python quote_plus behaviour for what tokens contain.
func TestQuotePlus(t *testing.T) {
	for in, want := range map[string]string{
		"AK/20000101/us-east-1": "AK%2F20000101%2Fus-east-1",
		"a+b=c/d":               "a%2Bb%3Dc%2Fd",
		"sp ace~_.-":            "sp+ace~_.-",
		"é:@&?;,$!*'()":         "%C3%A9%3A%40%26%3F%3B%2C%24%21%2A%27%28%29",
	} {
		if got := quotePlus(in); got != want {
			t.Errorf("quotePlus(%q) = %q, want %q", in, got, want)
		}
	}
	if q := CanonicalQuery(ConnectRequest{SessionToken: "x", Time: efsUtilsTime}); !strings.Contains(q, "X-Amz-Expires=86400&X-Amz-Security-Token=x&X-Amz-SignedHeaders=host") {
		t.Errorf("token parameter not sorted between Expires and SignedHeaders: %s", q)
	}
}

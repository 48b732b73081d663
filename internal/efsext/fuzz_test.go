package efsext

import (
	"bytes"
	"encoding/asn1"
	"testing"
	"time"
)

// The fuzzers check that no input panics and that whatever decodes
// re-encodes to the very same bytes (the strictness promise). Seeds live in
// testdata/fuzz/<FuzzName>/ as well as here.

func FuzzDecodeAccessPoint(f *testing.F) {
	seedUTF8(f, "fsap-0123456789abcdef0")
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := DecodeAccessPoint(der)
		if err != nil {
			return
		}
		e, err := AccessPointExtension(s)
		if err != nil || !bytes.Equal(e.Value, der) {
			t.Fatalf("decoded %q from % x but re-encoded % x (%v)", s, der, e.Value, err)
		}
	})
}

func FuzzDecodeFileSystemID(f *testing.F) {
	seedUTF8(f, "fs-deadbeef")
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := DecodeFileSystemID(der)
		if err != nil {
			return
		}
		e, err := FileSystemIDExtension(s)
		if err != nil || !bytes.Equal(e.Value, der) {
			t.Fatalf("decoded %q from % x but re-encoded % x (%v)", s, der, e.Value, err)
		}
	})
}

func FuzzDecodeIAMAuth(f *testing.F) {
	for _, a := range []IAMAuth{
		{AccessKeyID: "AKIDEXAMPLE", Signature: []byte("6aa643803d4a1b07c5ac87bff96347ef28dab1cb5a5c5d63969c90ca11454c4a"),
			SigV4DateTime: time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC), SessionToken: "FQoG/token+with=chars"},
		{AccessKeyID: "A", Signature: []byte("0"), SigV4DateTime: time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)},
		{AccessKeyID: "A", Signature: []byte("0"), SigV4DateTime: time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)},
	} {
		e, err := IAMAuthExtension(a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(e.Value)
	}
	f.Add([]byte{0x30, 0x1a, 0x0c, 1, 'A', 0x04, 2, 'a', 'b', 0x17, 0x11,
		'0', '0', '0', '1', '0', '1', '1', '2', '0', '0', '0', '0', '+', '0', '1', '0', '0'})
	f.Fuzz(func(t *testing.T, der []byte) {
		a, err := DecodeIAMAuth(der)
		if err != nil {
			return
		}
		e, err := IAMAuthExtension(a)
		if err != nil || !bytes.Equal(e.Value, der) {
			t.Fatalf("decoded from % x but re-encoded % x (%v)", der, e.Value, err)
		}
	})
}

func FuzzDecodeClientInfo(f *testing.F) {
	for _, c := range []ClientInfo{{Source: "unknown", EFSUtilsVersion: "2.1.0"}, {}} {
		e, err := ClientInfoExtension(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(e.Value)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := DecodeClientInfo(der)
		if err != nil {
			return
		}
		e, err := ClientInfoExtension(c)
		if err != nil || !bytes.Equal(e.Value, der) {
			t.Fatalf("decoded %+v from % x but re-encoded % x (%v)", c, der, e.Value, err)
		}
	})
}

func seedUTF8(f *testing.F, s string) {
	for _, p := range []string{"utf8", "printable", "ia5"} {
		der, err := asn1.MarshalWithParams(s, p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add([]byte{0x0c, 0x81, 0x03, 'f', 's', '-'}) // non-minimal length
	f.Add([]byte{0x2c, 0x80, 0x0c, 0x01, 'f', 0x00, 0x00})
}

package rpc

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		fragSize int
	}{
		{"Empty", 0, 0},
		{"OneFragment", 1000, 0},
		{"ManyFragments", 10000, 333},
		{"ExactFragments", 4096, 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := make([]byte, tc.size)
			for i := range body {
				body[i] = byte(i * 7)
			}
			var b bytes.Buffer
			if err := WriteRecord(&b, body, tc.fragSize); err != nil {
				t.Fatal(err)
			}
			if err := WriteRecord(&b, []byte("next"), 0); err != nil {
				t.Fatal(err)
			}
			rr := NewRecordReader(&b, 1<<20)
			got, err := rr.ReadRecord()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("record differs: got %d bytes, want %d", len(got), len(body))
			}
			got, err = rr.ReadRecord()
			if err != nil || string(got) != "next" {
				t.Fatalf("second record = %q, %v", got, err)
			}
			if _, err := rr.ReadRecord(); err != io.EOF {
				t.Fatalf("at end: err = %v, want io.EOF", err)
			}
		})
	}
}

func TestRecordReaderErrors(t *testing.T) {
	var big bytes.Buffer
	_ = WriteRecord(&big, make([]byte, 3000), 1000)
	if _, err := NewRecordReader(&big, 2500).ReadRecord(); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("oversized multi-fragment record: err = %v, want ErrRecordTooLarge", err)
	}

	var full bytes.Buffer
	_ = WriteRecord(&full, make([]byte, 100), 40)
	b := full.Bytes()
	for cut := 1; cut < len(b); cut++ {
		_, err := NewRecordReader(bytes.NewReader(b[:cut]), 1<<20).ReadRecord()
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("record cut at %d of %d: err = %v, want io.ErrUnexpectedEOF", cut, len(b), err)
		}
	}
}

func TestEncodeCallMark(t *testing.T) {
	p := Program{Prog: 100003, Vers: 4, Machine: "m"}
	rec, err := p.EncodeCall(0x1234, 1, Cred{UID: 1, GID: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewRecordReader(bytes.NewReader(rec), 1<<20).ReadRecord()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, rec[MarkSize:]) {
		t.Fatal("record mark does not frame the encoded call")
	}
	if recordXID(rec) != 0x1234 {
		t.Fatalf("xid = %#x", recordXID(rec))
	}
}

func FuzzRecordReader(f *testing.F) {
	var b bytes.Buffer
	_ = WriteRecord(&b, []byte("hello world"), 4)
	f.Add(b.Bytes())
	f.Add([]byte{0x80, 0, 0, 0})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		rr := NewRecordReader(bytes.NewReader(data), 4096)
		total := 0
		for {
			rec, err := rr.ReadRecord()
			if err != nil {
				return
			}
			if len(rec) > 4096 {
				t.Fatalf("record of %d bytes exceeds limit", len(rec))
			}
			total += len(rec)
			if total > len(data) {
				t.Fatalf("read %d bytes of records from %d bytes of input", total, len(data))
			}
		}
	})
}

func TestFragmentTracker(t *testing.T) {
	// Two records, the second in two fragments, fed in every split.
	var stream bytes.Buffer
	if err := WriteRecord(&stream, bytes.Repeat([]byte{1}, 10), 64); err != nil {
		t.Fatal(err)
	}
	if err := WriteRecord(&stream, bytes.Repeat([]byte{2}, 100), 60); err != nil {
		t.Fatal(err)
	}
	s := stream.Bytes()
	// Boundaries where a fragment has just ended: after record one (4+10),
	// after fragment one of record two (+4+60), at the end.
	ends := map[int]bool{0: true, 14: true, 78: true, len(s): true}
	for cut := 0; cut <= len(s); cut++ {
		var tr FragmentTracker
		tr.Advance(s[:cut])
		if got := tr.MidFragment(); got == ends[cut] {
			t.Fatalf("after %d bytes MidFragment = %v", cut, got)
		}
		for i := cut; i < len(s); i++ { // the rest byte by byte
			tr.Advance(s[i : i+1])
		}
		if tr.MidFragment() {
			t.Fatalf("split at %d: MidFragment at the end of the stream", cut)
		}
		if tr.Records != 2 {
			t.Fatalf("split at %d: %d records counted, want 2 (a record of two fragments is one)", cut, tr.Records)
		}
	}
}

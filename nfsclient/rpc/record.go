package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Record marking (RFC 5531 section 11): every record is a sequence of
// fragments, each preceded by a 4-byte big-endian header whose top bit marks
// the last fragment and whose low 31 bits give the fragment length.
const (
	lastFragmentBit = 1 << 31
	// MarkSize is the number of bytes a record mark takes in front of a
	// single-fragment record. Encoders reserve this much at the start of
	// their buffer so a record goes out in one Write without a copy.
	MarkSize = 4
	// maxFragment is the largest length a fragment header can carry.
	maxFragment = lastFragmentBit - 1
)

// ErrRecordTooLarge is returned when a peer announces a record longer than
// the reader's limit. The connection cannot be resynchronised after it.
var ErrRecordTooLarge = errors.New("rpc: record exceeds size limit")

// RecordReader reads whole records from a byte stream.
type RecordReader struct {
	r     io.Reader
	limit int
	hdr   [4]byte
}

// NewRecordReader returns a reader that refuses records longer than limit
// bytes (after reassembly of all fragments).
func NewRecordReader(r io.Reader, limit int) *RecordReader {
	return &RecordReader{r: r, limit: limit}
}

// ReadRecord returns the next complete record. The returned slice is owned
// by the caller, who may hand it back with ReleaseRecord when done. io.EOF is returned only on a clean end
// of stream between records; a stream that ends inside a record gives
// io.ErrUnexpectedEOF.
func (rr *RecordReader) ReadRecord() ([]byte, error) {
	var rec []byte
	for first := true; ; first = false {
		if _, err := io.ReadFull(rr.r, rr.hdr[:]); err != nil {
			if err == io.EOF && !first {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		h := binary.BigEndian.Uint32(rr.hdr[:])
		n := int(h &^ lastFragmentBit)
		if len(rec)+n > rr.limit {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrRecordTooLarge, len(rec)+n, rr.limit)
		}
		start := len(rec)
		if rec == nil {
			rec = getBuffer(n) // pooled when large: see ReleaseRecord
		} else {
			rec = append(rec, make([]byte, n)...)
		}
		if _, err := io.ReadFull(rr.r, rec[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if h&lastFragmentBit != 0 {
			return rec, nil
		}
	}
}

// PutMark writes a last-fragment record mark for a record of n bytes into
// b[:MarkSize]. Records longer than one fragment can carry are split by
// WriteRecord instead.
func PutMark(b []byte, n int) {
	binary.BigEndian.PutUint32(b, uint32(n)|lastFragmentBit)
}

// WriteRecord writes body as one record, splitting it into fragments of at
// most fragSize bytes (fragSize <= 0 means as few fragments as possible).
// It exists for tests and peers that want multi-fragment records; the client
// itself sends single-fragment records prepared with PutMark.
func WriteRecord(w io.Writer, body []byte, fragSize int) error {
	if fragSize <= 0 || fragSize > maxFragment {
		fragSize = maxFragment
	}
	var hdr [4]byte
	for {
		n := min(len(body), fragSize)
		h := uint32(n)
		if n == len(body) {
			h |= lastFragmentBit
		}
		binary.BigEndian.PutUint32(hdr[:], h)
		if _, err := w.Write(hdr[:]); err != nil {
			return fmt.Errorf("rpc: write record mark: %w", err)
		}
		if _, err := w.Write(body[:n]); err != nil {
			return fmt.Errorf("rpc: write record: %w", err)
		}
		body = body[n:]
		if len(body) == 0 {
			return nil
		}
	}
}

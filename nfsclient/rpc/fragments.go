package rpc

import "encoding/binary"

// FragmentTracker follows the record marking (RFC 5531 section 11) of a
// byte stream that is relayed in arbitrary chunks, so a relay can tell
// whether it stopped in the middle of a fragment. Stopping there means more
// bytes are certainly on their way (a peer never waits for an answer to
// half a record), so the relay may keep reading to fill its buffer and
// hand the next hop one large write instead of one per TLS record.
type FragmentTracker struct {
	left uint32 // body bytes of the current fragment still to come
	hdr  [MarkSize]byte
	hn   int // bytes of the next record mark seen so far
	// Records counts the records whose last fragment has begun: the RPC
	// calls (or replies) the stream carried, for a relay's statistics.
	Records uint64
}

// Advance accounts for p, the next bytes of the stream.
func (t *FragmentTracker) Advance(p []byte) {
	for len(p) > 0 {
		if t.left > 0 {
			k := uint32(min(uint64(t.left), uint64(len(p))))
			t.left -= k
			p = p[k:]
			continue
		}
		k := copy(t.hdr[t.hn:], p)
		t.hn += k
		p = p[k:]
		if t.hn == MarkSize {
			mark := binary.BigEndian.Uint32(t.hdr[:])
			t.left = mark &^ lastFragmentBit
			t.hn = 0
			if mark&lastFragmentBit != 0 {
				t.Records++
			}
		}
	}
}

// MidFragment reports that the stream stopped inside a fragment (its mark
// or its body).
func (t *FragmentTracker) MidFragment() bool { return t.left > 0 || t.hn > 0 }

package fusefs

import (
	"bytes"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// go-fuse writes a reply vectored only if it has this method (its
// interface is unexported); without it every READ would be copied again.
var _ interface {
	Slices() ([][]byte, fuse.Status)
} = (*readReply)(nil)

func TestReadReply(t *testing.T) {
	released := 0
	ra := &readahead{}
	chunk := &raChunk{data: []byte("0123456789"), refs: 1, fetched: true, release: func() { released++ }}

	// A request of 8 bytes: 4 from the chunk, the rest read directly
	// into dest at the position they take in the reply.
	dest := make([]byte, 8)
	copy(dest[4:], "wxyz")
	r := newReadReply(ra)
	chunk.refs++ // chunkAt's reference, handed to the reply
	r.add(chunk.data[6:], chunk)
	r.add(dest[4:8], nil)
	r.add(nil, nil) // an empty part adds nothing

	if r.Size() != 8 {
		t.Fatalf("Size = %d, want 8", r.Size())
	}
	parts, st := r.Slices()
	if !st.Ok() || len(parts) != 2 || !bytes.Equal(bytes.Join(parts, nil), []byte("6789wxyz")) {
		t.Fatalf("Slices = %q, %v", parts, st)
	}
	// Flattening into the request's own buffer, which the direct part
	// lives in, must not clobber it.
	got, st := r.Bytes(dest)
	if !st.Ok() || string(got) != "6789wxyz" {
		t.Fatalf("Bytes(dest) = %q, %v", got, st)
	}
	if got, _ := r.Bytes(nil); string(got) != "6789wxyz" {
		t.Fatalf("Bytes(nil) = %q", got)
	}

	r.Done()
	if released != 0 || chunk.refs != 1 {
		t.Fatalf("after Done: released %d, refs %d; want the chunk list's hold left", released, chunk.refs)
	}
	ra.mu.Lock()
	chunk.unrefLocked() // the chunk list drops it
	ra.mu.Unlock()
	if released != 1 {
		t.Fatalf("released %d times, want 1", released)
	}
	r.Done() // a second Done holds nothing
	if released != 1 {
		t.Fatalf("second Done released again")
	}
}

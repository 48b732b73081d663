package fusefs

import (
	"fmt"
	"testing"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

func TestHeldRanges(t *testing.T) {
	w, r := nfsclient.WriteLock, nfsclient.ReadLock
	eof := nfsclient.ToEOF
	for _, tc := range []struct {
		name string
		ops  func(h *heldRanges)
		want string
	}{
		{"One", func(h *heldRanges) { h.add(w, 0, 10) }, "[{2 0 10}]"},
		{"UnlockMiddleSplits", func(h *heldRanges) { h.add(w, 0, 10); h.remove(3, 4) }, "[{2 0 3} {2 7 10}]"},
		{"UnlockAll", func(h *heldRanges) { h.add(w, 0, 10); h.add(r, 20, eof); h.remove(0, eof) }, "[]"},
		{"ToEOFThenUnlockTail", func(h *heldRanges) { h.add(w, 5, eof); h.remove(100, eof) }, "[{2 5 100}]"},
		{"ToEOFThenUnlockMiddle", func(h *heldRanges) { h.add(w, 0, eof); h.remove(10, 10) }, "[{2 0 10} {2 20 0}]"},
		{"RelockChangesType", func(h *heldRanges) { h.add(w, 0, 10); h.add(r, 5, 10) }, "[{2 0 5} {1 5 15}]"},
		{"DisjointKept", func(h *heldRanges) { h.add(w, 0, 5); h.add(w, 10, 5); h.remove(6, 2) }, "[{2 0 5} {2 10 15}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h heldRanges
			tc.ops(&h)
			if got := fmt.Sprint([]heldRange(h)); got != tc.want && !(got == "[]" && tc.want == "[]") {
				t.Fatalf("ranges = %s, want %s", got, tc.want)
			}
		})
	}
}

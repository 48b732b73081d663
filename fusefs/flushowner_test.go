package fusefs

import (
	"context"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// TestFlushOwners: a FLUSH's lock owner is found by its caller's pid while
// it runs; two at once with one pid (pid 0, from another pid namespace)
// give no owner until both are done, and a third starting meanwhile does
// not make one of them look like its own.
func TestFlushOwners(t *testing.T) {
	var f flushOwners
	ctxOf := func(pid uint32) context.Context {
		return &fuse.Context{Caller: fuse.Caller{Pid: pid}, Cancel: nil}
	}
	done := f.start(42, 7)
	if o, ok := f.of(ctxOf(42)); !ok || o != 7 {
		t.Fatalf("owner of pid 42's FLUSH: %d %v, want 7", o, ok)
	}
	done()
	if _, ok := f.of(ctxOf(42)); ok {
		t.Fatal("an owner is left after the FLUSH ended")
	}
	first := f.start(0, 1)
	second := f.start(0, 2)
	first()
	third := f.start(0, 3)
	if o, ok := f.of(ctxOf(0)); ok {
		t.Fatalf("pid 0 with three FLUSHes at once gave owner %d", o)
	}
	second()
	third()
	if _, ok := f.of(ctxOf(0)); ok {
		t.Fatal("an owner is left after all FLUSHes ended")
	}
}

package fusefs

import (
	"context"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// deadServer is a Session whose READs are never answered: each returns
// only when its context ends, as nfsclient does on a hard mount.
type deadServer struct {
	Session // unused methods panic
	reads   chan struct{}
}

func (d *deadServer) ReadData(ctx context.Context, _ rpc.Cred, _ nfsclient.FH, _ nfsclient.Stateid, _ uint64, _ int) ([]byte, bool, func(), error) {
	d.reads <- struct{}{}
	<-ctx.Done()
	return nil, false, func() {}, ctx.Err()
}

// TestReadaheadCloseFollowsItsContext: closing a handle waits for its
// prefetch READs, but not past the end of the close's own context (a
// RELEASE go-fuse cancelled because the kernel dropped the connection);
// otherwise a dead server keeps the serving process alive.
func TestReadaheadCloseFollowsItsContext(t *testing.T) {
	d := &deadServer{reads: make(chan struct{}, 16)}
	fsys := &filesystem{budget: newBudget(0), sess: d, maxIO: 1 << 20}
	n := &node{fsys: fsys}
	n.attr.Size = 64 << 20
	h := newFileHandle(n, &openState{}, rpc.Root)

	h.ra.fill(h, 0, 4<<20, 0)
	for range 4 {
		select {
		case <-d.reads:
		case <-time.After(5 * time.Second):
			t.Fatal("prefetch READs did not start")
		}
	}

	closed := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(closed)
		h.ra.close(ctx, fsys)
	}()
	select {
	case <-closed:
		t.Fatal("close returned while its READs were in flight and its context alive")
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("close still waits for READs of a dead server after its context ended")
	}
	if used, _ := fsys.budget.stats(); used != 0 {
		t.Errorf("%d read-ahead bytes still charged after close", used)
	}
}

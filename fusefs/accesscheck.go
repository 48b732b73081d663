package fusefs

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// Where the kernel checks no permission (ServerMapsIdentity: an access
// point), opens and truncates are checked with NFS ACCESS as the kernel
// client checks them: the server lets OPEN read a file its caller may
// only execute, and lets the owner truncate a 0444 file, while the kernel
// client refuses both after asking ACCESS. Answers are cached per node and
// user for the attribute timeout, as the kernel client's access cache is
// revalidated with the attributes.

// accessCache holds ACCESS answers of one node by user.
type accessCache struct {
	mu      sync.Mutex
	entries map[string]accessEntry // by credKey
}

type accessEntry struct {
	asked, granted uint32
	expires        time.Time
}

func credKey(c rpc.Cred) string { return fmt.Sprint(c.UID, c.GID, c.Groups) }

// lookup returns the cached answer for want, if every bit was asked.
func (a *accessCache) lookup(key string, want uint32, now time.Time) (granted uint32, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.entries[key]
	if !ok || now.After(e.expires) || e.asked&want != want {
		return 0, false
	}
	return e.granted, true
}

func (a *accessCache) store(key string, asked, granted uint32, expires time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.entries == nil {
		a.entries = map[string]accessEntry{}
	}
	a.entries[key] = accessEntry{asked: asked, granted: granted, expires: expires}
}

// openAccess is what an open with flags needs: reading, writing, or both.
func openAccess(flags uint32) uint32 {
	switch flags & syscall.O_ACCMODE {
	case syscall.O_WRONLY:
		return nfsclient.AccessModify
	case syscall.O_RDWR:
		return nfsclient.AccessRead | nfsclient.AccessModify
	default:
		return nfsclient.AccessRead
	}
}

// serverChecks returns EACCES when the server says cred may not do want
// on n, on mounts where the kernel does not check permissions; 0 where it
// does (it already has).
func (n *node) serverChecks(ctx context.Context, cred rpc.Cred, want uint32) syscall.Errno {
	if n.fsys.kernelPermissions {
		return 0
	}
	key, now := credKey(cred), time.Now()
	granted, ok := n.access.lookup(key, want, now)
	if !ok {
		got, err := n.fsys.sess.Access(ctx, cred, n.getFH(), want)
		if err != nil {
			return n.errno(ctx, "ACCESS", "", err)
		}
		granted = got
		if t := n.attrTimeout(); t > 0 {
			n.access.store(key, want, got, now.Add(t))
		}
	}
	if granted&want != want {
		return syscall.EACCES
	}
	return 0
}

package fusefs

import (
	"sync"
	"time"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// Known names: a directory whose every name this mount knows, so that a
// LOOKUP of a name not among them is answered ENOENT without a round trip.
//
// FUSE has no atomic open: before it sends CREATE, the kernel LOOKUPs the
// name, which for a new file is always a miss, one round trip of the four a
// small file's create costs (the kernel NFS client sends OPEN alone). A
// directory this mount just made is known to be empty; each OPEN that
// creates a name in it reports the directory's change attribute before and
// after (change_info4), and while "before" is the change this mount last
// saw, no one else changed the directory in between, so the names stay
// known. Anything else that changes the directory here (remove, rename,
// link, other creates), a "before" that differs, or no confirmation for
// the entry timeout (1 s, zero with noac) makes them unknown again, and
// LOOKUPs go to the server as before.
//
// What this gives up is what the kernel's own name cache gives up for
// names it has: a name another client creates in such a directory may be
// missed for up to the entry timeout after this mount's last change there.
// ganesha does not mark change_info atomic; a change by another client
// exactly between its "before" and the OPEN would go unnoticed, for the same
// bounded time.
type knownNames struct {
	mu        sync.Mutex
	names     map[string]struct{} // nil: not known
	change    uint64              // the directory's change attribute after the last confirmation
	confirmed time.Time
}

// startEmpty records a directory this mount just created, with its
// change attribute from the CREATE.
func (k *knownNames) startEmpty(change uint64, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.names, k.change, k.confirmed = map[string]struct{}{}, change, now
}

// absent reports whether name is known not to exist: the names are known,
// confirmed within ttl, and name is not among them.
func (k *knownNames) absent(name string, now time.Time, ttl time.Duration) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.names == nil || ttl <= 0 || now.Sub(k.confirmed) >= ttl {
		return false
	}
	_, ok := k.names[name]
	return !ok
}

// created records name created (or opened) by an OPEN whose change_info
// is ci: the names stay known only if nothing else changed the directory.
func (k *knownNames) created(name string, ci nfsclient.ChangeInfo, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.names == nil {
		return
	}
	if ci.Before != k.change || ci.After == 0 {
		k.names = nil
		return
	}
	k.names[name] = struct{}{}
	k.change, k.confirmed = ci.After, now
}

// forget makes the names unknown: the directory changed in a way this
// mount cannot account for.
func (k *knownNames) forget() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.names = nil
}

package fusefs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// Options configure a mount.
type Options struct {
	// Session is the NFS session every request goes through.
	Session Session
	// RootFH and RootAttr describe the directory mounted (the export
	// path of "fs-id:/path").
	RootFH   nfsclient.FH
	RootAttr nfsclient.Attr
	// FSName is the source shown in /proc/mounts, e.g. "fs-12345678:/".
	FSName string

	// AttrTimeout and EntryTimeout are how long the kernel may cache
	// attributes and names; NegativeTimeout how long it may cache a
	// missing name. Nil means the defaults 1s, 1s and 0: short, because
	// other clients change the same files (close-to-open consistency).
	// The `noac` mount option sets all three to zero.
	AttrTimeout, EntryTimeout, NegativeTimeout *time.Duration

	// ReadOnly mounts read-only (the kernel refuses writes).
	ReadOnly bool

	// Unprivileged, when true (a non-root mount), sends every request as
	// FixedCred, the mounting user, whoever the caller is.
	Unprivileged bool
	FixedCred    rpc.Cred

	// MemoryBudget bounds the bytes of write-behind and read-ahead data
	// the mount holds, all files together (budget.go); 0 is 64 MiB.
	MemoryBudget int64

	Logger *zap.Logger
	// Debug logs every FUSE request and reply (go-fuse's protocol log).
	Debug bool
}

// Mount parameters, with the reason for each.
const (
	// maxIO is EFS's rsize/wsize: one FUSE READ/WRITE maps to one NFS
	// READ/WRITE (go-fuse derives max_pages from MaxWrite).
	maxIO = 1 << 20
	// maxBackground lets the kernel keep many asynchronous requests
	// (read-ahead, writeback) in flight: EFS latency, not bandwidth, is
	// the limit, so concurrency is what makes it fast. The kernel's
	// default of 12 would cap a sequential read at 12 READs in flight.
	maxBackground = 128
)

// filesystem is the state shared by all nodes of one mount.
type filesystem struct {
	sess    Session
	creds   *credentials
	log     *zap.Logger
	maxIO   int
	timeout struct{ attr, entry, negative time.Duration }

	mu    sync.Mutex              // guards opens
	opens map[*openState]struct{} // every live NFS OPEN, for Unmount

	repairs sync.WaitGroup // repairMissed goroutines (reclaim.go), waited for by Unmount and Close

	budget *memBudget // write-behind and read-ahead memory, mount-wide (budget.go)
	dirty  dirtyFiles // files holding uncommitted data, for the budget (dirty.go)
	trim   trimmer    // gives memory back after a burst of I/O (memory.go)
	wbufs  wbufPool   // writes' copies of their data, free for reuse (wbuf.go)
}

// Server is a live mount.
type Server struct {
	fuse *fuse.Server
	fsys *filesystem
	root *node

	unmountOnce sync.Once
	unmountErr  error
}

func duration(d *time.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return *d
}

// Mount mounts the export at mountpoint and returns once the kernel mount
// is live. The caller owns the Session; Unmount does not close it.
func Mount(mountpoint string, o Options) (*Server, error) {
	if o.Session == nil {
		return nil, errors.New("fusefs: Options.Session is required")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	fsys := &filesystem{
		sess:   o.Session,
		creds:  newCredentials(o.Unprivileged, o.FixedCred),
		log:    o.Logger,
		maxIO:  int(min(o.Session.MaxWrite(), o.Session.MaxRead())),
		opens:  map[*openState]struct{}{},
		budget: newBudget(o.MemoryBudget),
	}
	if fsys.maxIO <= 0 {
		return nil, errors.New("fusefs: session reports a zero I/O size")
	}
	fsys.wbufs = newWbufPool(int(fsys.budget.limit)/fsys.maxIO + 1) // before serving: requests use it
	fsys.timeout.attr = duration(o.AttrTimeout, time.Second)
	fsys.timeout.entry = duration(o.EntryTimeout, time.Second)
	fsys.timeout.negative = duration(o.NegativeTimeout, 0)

	root := &node{fsys: fsys, fh: o.RootFH}
	root.setChange(o.RootAttr.Change)
	mopts := fuse.MountOptions{
		FsName:        o.FSName,
		Name:          "efs",
		MaxWrite:      min(maxIO, fsys.maxIO),
		MaxReadAhead:  maxIO,
		MaxBackground: maxBackground,
		// Root mounts are shared by all users, as a kernel NFS mount
		// is; the server decides permissions, so the kernel must not
		// (no default_permissions).
		// An unprivileged mount acts as its user only, so it must
		// not let anyone else in.
		AllowOther:  os.Geteuid() == 0 && !o.Unprivileged,
		EnableLocks: true,
		// Root mounts with mount(2) directly; fusermount3 remains the
		// fallback and the path for unprivileged mounts.
		DirectMount: os.Geteuid() == 0,
		// Our READ replies are memory, never a file descriptor to
		// splice from, yet go-fuse would try a pipe per reply: three
		// wasted system calls, and for 1 MiB replies (bigger than the
		// default pipe-max-size) a "trySplice" log line each time.
		DisableSplice: true,
		Debug:         o.Debug,
	}
	if o.ReadOnly {
		mopts.Options = append(mopts.Options, "ro")
	}
	negative := fsys.timeout.negative
	fopts := &fs.Options{
		MountOptions:    mopts,
		EntryTimeout:    &fsys.timeout.entry,
		AttrTimeout:     &fsys.timeout.attr,
		NegativeTimeout: &negative,
		// Permissions come from the server as they are; a mode of 0
		// is a real mode, not "unset".
		NullPermissions: true,
		RootStableAttr:  &fs.StableAttr{Ino: o.RootAttr.FileID},
	}
	srv, err := fs.Mount(mountpoint, root, fopts)
	if err != nil {
		return nil, fmt.Errorf("fusefs: mount %s: %w", mountpoint, err)
	}
	if os.Geteuid() == 0 {
		if err := raiseKernelReadAhead(mountpoint); err != nil {
			fsys.log.Debug("kernel read-ahead left at its default", zap.Error(err))
		}
	}
	fsys.log.Info("mounted", zap.String("mountpoint", mountpoint), zap.String("source", o.FSName))
	fsys.trim.release = fsys.wbufs.drain
	fsys.trim.start()
	return &Server{fuse: srv, fsys: fsys, root: root}, nil
}

// Wait blocks until the filesystem is unmounted.
func (s *Server) Wait() { s.fuse.Wait() }

// unmountTimeout bounds the NFS work of Unmount (COMMIT and CLOSE of what
// is left), so a dead server cannot hang it forever.
const unmountTimeout = 30 * time.Second

// Unmount flushes dirty data, unmounts the kernel mount, then CLOSEs any
// NFS opens left. The opens are closed after the kernel unmount, not
// before: while the mount is live a process may still use them, and a
// busy mount fails to unmount, in which case nothing is closed.
func (s *Server) Unmount() error {
	s.unmountOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), unmountTimeout)
		defer cancel()
		flushErr := s.fsys.commitAll(ctx)
		if err := s.fuse.Unmount(); err != nil {
			s.unmountErr = err
			return
		}
		s.fuse.Wait()
		s.fsys.trim.stop()
		s.fsys.closeAll(ctx)
		s.fsys.repairs.Wait()
		s.unmountErr = flushErr
	})
	return s.unmountErr
}

// Close finishes a mount that ended from outside (umount, fusermount3 -u):
// the kernel normally releases every handle first, but whatever is still
// dirty or open is committed and closed here, bounded like Unmount. Call it
// after Wait returns.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), unmountTimeout)
	defer cancel()
	s.fsys.trim.stop()
	err := s.fsys.commitAll(ctx)
	s.fsys.closeAll(ctx)
	s.fsys.repairs.Wait()
	return err
}

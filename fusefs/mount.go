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

	"github.com/efs-fuse/efs-fuse/internal/idmap"
	"github.com/efs-fuse/efs-fuse/internal/inheritedfd"
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

	// AttrCache bounds attribute caching (acregmin ... acdirmax). Nil
	// means AttrTimeout for all four bounds; AttrTimeout nil means 1s:
	// short, because other clients change the same files.
	AttrCache   *AttrCache
	AttrTimeout *time.Duration
	// EntryTimeout is how long the kernel may cache a name; nil means as
	// long as its directory's attributes. NegativeTimeout is how long it
	// may cache a missing name (nil: 0). The `noac` mount option sets
	// everything to zero.
	EntryTimeout, NegativeTimeout *time.Duration

	// ReadOnly mounts read-only (the kernel refuses writes).
	ReadOnly bool

	// Unprivileged, when true (a non-root mount), sends every request as
	// FixedCred, the mounting user, whoever the caller is.
	Unprivileged bool
	FixedCred    rpc.Cred
	// IDs are the user namespace maps of a mount made inside one (nil:
	// the initial namespace): owners are shown and set through them.
	IDs *idmap.Map

	// ServerMapsIdentity says the server acts for every caller as
	// another identity (an EFS access point's POSIX user): the kernel
	// then checks no permission itself, the server alone decides
	// (permissions.go).
	ServerMapsIdentity bool

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
	ids     *idmap.Map // owners between the server (host ids) and the mount's namespace
	mounted bool       // set once a kernel mount serves the tree (see node.invalidate)
	creds   *credentials
	log     *zap.Logger
	maxIO   int
	timeout struct {
		attr     AttrCache
		entry    *time.Duration // nil: the directory's attribute timeout
		negative time.Duration
	}

	// kernelPermissions is set when the kernel checks permissions
	// (default_permissions, permissions.go).
	kernelPermissions bool

	mu    sync.Mutex              // guards opens
	opens map[*openState]struct{} // every live NFS OPEN, for Unmount

	flushes flushOwners // lock owners of the FLUSHes in progress (flushowner.go)

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
		ids:    o.IDs,

		kernelPermissions: !o.ServerMapsIdentity,
	}
	if fsys.maxIO <= 0 {
		return nil, errors.New("fusefs: session reports a zero I/O size")
	}
	fsys.wbufs = newWbufPool(int(fsys.budget.limit)/fsys.maxIO + 1) // before serving: requests use it
	fsys.timeout.attr = UniformAttrCache(duration(o.AttrTimeout, DefaultAttrCacheTime))
	if o.AttrCache != nil {
		fsys.timeout.attr = *o.AttrCache
	}
	fsys.timeout.entry = o.EntryTimeout
	fsys.timeout.negative = duration(o.NegativeTimeout, 0)

	root := &node{fsys: fsys, fh: o.RootFH}
	root.setChange(o.RootAttr.Change)
	mopts := fuse.MountOptions{
		FsName: o.FSName,
		// The type in mountinfo is "fuse." + Name: "fuse.efs-fuse",
		// what -t names and findmnt -t finds.
		Name:          "efs-fuse",
		MaxWrite:      min(maxIO, fsys.maxIO),
		MaxReadAhead:  maxIO,
		MaxBackground: maxBackground,
		// Root mounts are shared by all users, as a kernel NFS mount
		// is. An unprivileged mount acts as its user only, so it must
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
	if fsys.kernelPermissions {
		mopts.Options = append(mopts.Options, "default_permissions")
	}
	// Defaults for replies that set no timeout of their own (nodes set
	// theirs: attrcache.go).
	negative, entry, attr := fsys.timeout.negative, duration(fsys.timeout.entry, fsys.timeout.attr.DirMin), fsys.timeout.attr.RegMin
	fopts := &fs.Options{
		MountOptions:    mopts,
		EntryTimeout:    &entry,
		AttrTimeout:     &attr,
		NegativeTimeout: &negative,
		// Permissions come from the server as they are; a mode of 0
		// is a real mode, not "unset".
		NullPermissions: true,
		RootStableAttr:  &fs.StableAttr{Ino: o.RootAttr.FileID, Gen: fhGen(o.RootFH)},
	}
	fsys.mounted = true
	srv, err := serve(mountpoint, &flushOwnerFS{RawFileSystem: fs.NewNodeFS(root, fopts), owners: &fsys.flushes}, &fopts.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("fusefs: mount %s: %w", mountpoint, err)
	}
	// go-fuse's direct mount (root) opens /dev/fuse without close-on-exec
	// (its fusermount path sets it). Every program this process starts
	// later (the watchdog, a tunnel) would hold the FUSE connection open,
	// and the kernel aborts a connection only when its last descriptor
	// closes: after a crash of this process, requests in flight would
	// wait forever instead of failing at once. Nothing forks between the
	// open and here (the mount is made before any helper starts).
	if _, err := inheritedfd.CloseOnExec("/dev/fuse"); err != nil {
		_ = srv.Unmount()
		return nil, fmt.Errorf("fusefs: mount %s: %w", mountpoint, err)
	}
	if os.Geteuid() == 0 {
		if err := raiseKernelReadAhead(mountpoint); err != nil {
			fsys.log.Debug("kernel read-ahead left at its default", zap.Error(err))
		}
	}
	// The caller's logger names the mount point (mount_point).
	fsys.log.Info("mounted", zap.String("source", o.FSName))
	fsys.trim.release = fsys.wbufs.drain
	fsys.trim.start()
	return &Server{fuse: srv, fsys: fsys, root: root}, nil
}

// serve mounts raw and serves it until unmounted, as fs.Mount does for
// the bridge alone.
func serve(mountpoint string, raw fuse.RawFileSystem, o *fuse.MountOptions) (*fuse.Server, error) {
	srv, err := fuse.NewServer(raw, mountpoint, o)
	if err != nil {
		return nil, err
	}
	go srv.Serve() // ends when the kernel mount goes
	if err := srv.WaitMount(); err != nil {
		// Serve ends on its own: the mount it would read from failed.
		return nil, err
	}
	return srv, nil
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

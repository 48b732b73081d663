package bench

import (
	"context"
	"errors"
)

// Path is one way of reaching the benchmark's data. Names are relative
// to the path's own working directory ("a/b"); each path works in a
// directory of its own so that paths never see each other's files.
//
// Implementations are safe for concurrent use: the threaded workloads
// call them from many goroutines.
type Path interface {
	// Name is the path's name in reports ("fuse", "client", ...).
	Name() string
	// Create creates (or truncates) a regular file for reading and writing.
	Create(ctx context.Context, name string) (File, error)
	// Open opens an existing file for reading.
	Open(ctx context.Context, name string, how OpenHow) (File, error)
	// OpenRW opens an existing file for reading and writing.
	OpenRW(ctx context.Context, name string) (File, error)
	// Stat returns a file's size.
	Stat(ctx context.Context, name string) (int64, error)
	Remove(ctx context.Context, name string) error
	Mkdir(ctx context.Context, name string) error
	// RemoveAll deletes a directory tree (cleanup; not measured).
	RemoveAll(ctx context.Context, name string) error
	// ReadDir lists a directory and returns how many entries it has.
	ReadDir(ctx context.Context, name string) (int, error)
	// Depth is how many blocks a sequential stream keeps in flight. File
	// system paths use 1: read-ahead and write-back below the system
	// call are the kernel's (and FUSE's) job, as for dd or cp. The client
	// paths have no kernel below them, so the stream pipelines itself,
	// as fusefs's read-ahead and write-behind would: that is what makes
	// them the ceiling of our stack.
	Depth() int
	// Close releases the path (unmounts, ends sessions).
	Close() error
}

// File is an open file on a Path. ReadAt and WriteAt may be called
// concurrently.
type File interface {
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	WriteAt(ctx context.Context, p []byte, off int64) (int, error)
	// Sync makes written data durable (fsync; COMMIT on the client paths).
	Sync(ctx context.Context) error
	Close(ctx context.Context) error
}

// OpenHow says how a read is to meet the cache.
type OpenHow int

const (
	// Cached is a normal open.
	Cached OpenHow = iota
	// Direct bypasses the client's page cache (O_DIRECT) where the path
	// has one; the cold-read fallback when caches cannot be dropped.
	Direct
)

// ErrSkipped marks a path that cannot run on this host; its Reason says
// why (for example, no kernel NFS client).
var ErrSkipped = errors.New("bench: path skipped")

// SkipError is a path that cannot run here, with the reason shown in the
// report instead of figures.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }
func (e *SkipError) Is(target error) bool {
	return target == ErrSkipped
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// env is what a workload body runs with.
type env struct {
	path Path
	// setup reaches the same files as path by the fastest way known (the
	// export directory when the target is local, else path itself): the
	// unmeasured preparation of a 10,000-entry directory should not take
	// longer than the measurement.
	setup Path
	// canDrop says whether the page cache can be dropped (root, writable
	// /proc/sys/vm/drop_caches); otherwise cold reads use O_DIRECT.
	canDrop bool
	tarball []byte // the source tree for untar

	meter meter // the path's processes' CPU and memory books
	used  usage // what the last measured step (begin to end) cost
	// metered is set by end: the workload's figures have a usage.
	metered bool
}

// begin starts a workload's measured step: the clock and the books of
// the path's processes. end closes both.
func (e *env) begin() time.Time { return e.meter.begin() }

// end returns the time since start (begin's) and keeps what the step cost.
func (e *env) end(start time.Time) time.Duration {
	e.used, e.metered = e.meter.end(), true
	return time.Since(start)
}

// scratch lists every name the workloads create in a path's working
// directory, for the cleanup after the path is done.
var scratch = []string{bigFile, randFile, "small", "list", "ttfb", "untar"}

const (
	bigFile  = "big.dat"
	randFile = "rand.dat"
)

// cold prepares a cold read: it drops the page cache (the client's and,
// with the local target, the server's) when it can, and otherwise says to
// open with O_DIRECT, which bypasses only the client's cache. The note
// says which it was, for the report.
func (e *env) cold() (OpenHow, string, error) {
	if e.canDrop {
		if err := dropCaches(); err != nil {
			return Cached, "", err
		}
		return Cached, "cold: drop_caches", nil
	}
	return Direct, "cold: O_DIRECT (cannot drop caches)", nil
}

// warmServer reads name once on the server's side, so that a cold read
// after it measures the client's path and not the server's disk. With the
// local target that is the export directory (the server's page cache is
// the host's); a remote server's cache is not ours to drop, so there is
// nothing to do. It says which it was, for the report.
func (e *env) warmServer(ctx context.Context, name string, size int64, block int) (string, error) {
	if e.setup.Name() == e.path.Name() {
		return "no server side to warm (a remote target's cache is not ours to drop; the local path is the export)", nil
	}
	f, err := e.setup.Open(ctx, name, Cached)
	if err != nil {
		return "", fmt.Errorf("warm %s: %w", name, err)
	}
	_, err = stream(ctx, f, size, block, 1, false)
	if cerr := f.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("warm %s: %w", name, err)
	}
	return "server cache warmed through the export", nil
}

// dropCachesFile is the kernel knob; 3 drops the page cache, dentries and
// inodes, so a FUSE mount forgets its inodes too.
const dropCachesFile = "/proc/sys/vm/drop_caches"

// canDropCaches reports whether dropCaches can work here.
func canDropCaches() bool {
	if os.Geteuid() != 0 {
		return false
	}
	f, err := os.OpenFile(dropCachesFile, os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	_ = f.Close()
	return true
}

func dropCaches() error {
	// Dirty pages cannot be dropped: write them back first.
	syscall.Sync()
	if err := os.WriteFile(dropCachesFile, []byte("3\n"), 0); err != nil {
		return fmt.Errorf("bench: drop caches: %w", err)
	}
	return nil
}

// ensureFile makes name a file of exactly size bytes unless it is one
// already (the sequential write leaves the large file the reads use).
func (e *env) ensureFile(ctx context.Context, name string, size int64) error {
	if got, err := e.path.Stat(ctx, name); err == nil && got == size {
		return nil
	}
	f, err := e.setup.Create(ctx, name)
	if err != nil {
		return fmt.Errorf("prepare %s: %w", name, err)
	}
	buf := pattern(1 << 20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		if _, err := f.WriteAt(ctx, buf[:n], off); err != nil {
			_ = f.Close(ctx)
			return fmt.Errorf("prepare %s: %w", name, err)
		}
	}
	return errors.Join(f.Sync(ctx), f.Close(ctx))
}

// alignment satisfies O_DIRECT on every file system we meet.
const alignment = 4096

// alignedBuf returns n bytes starting on an alignment boundary, as
// O_DIRECT requires.
func alignedBuf(n int) []byte {
	b := make([]byte, n+alignment)
	skip := (alignment - int(uintptr(unsafe.Pointer(&b[0]))%alignment)) % alignment
	return b[skip : skip+n : skip+n]
}

// pattern returns n bytes that neither compress nor look like holes.
func pattern(n int) []byte {
	b := alignedBuf(n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

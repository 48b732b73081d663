package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// osPath reaches the data through system calls on a directory: an
// efs-fuse mount (fuse), a kernel NFS mount (kernel) or the export
// directory itself (local). The same code for all three is the point:
// the difference in figures is the stack below the system call.
type osPath struct {
	name string
	dir  string // working directory, created by newOSPath
	// clientCache is true for mounts: O_DIRECT bypasses their page
	// cache. On the local path the page cache is the server's own (ganesha
	// reads through it), so Direct opens are plain opens there.
	clientCache bool
	close       func() error // unmounts or cleans up; nil for nothing
	// procs, when set, are the processes serving the path (a daemon of
	// its own); otherwise the bench process is all there is to measure.
	procs *procSet
}

func (p *osPath) processes() procSet {
	if p.procs != nil {
		return *p.procs
	}
	return procSet{client: []int{self}}
}

// newOSPath prepares dir (created if missing) as the working directory
// of a file-system path.
func newOSPath(name, dir string, clientCache bool, closeFn func() error) (*osPath, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %s path: create working directory: %w", name, err)
	}
	return &osPath{name: name, dir: dir, clientCache: clientCache, close: closeFn}, nil
}

func (p *osPath) Name() string { return p.name }
func (p *osPath) Depth() int   { return 1 }

func (p *osPath) full(name string) string { return filepath.Join(p.dir, name) }

func (p *osPath) Create(_ context.Context, name string) (File, error) {
	f, err := os.OpenFile(p.full(name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (p *osPath) Open(_ context.Context, name string, how OpenHow) (File, error) {
	flags := os.O_RDONLY
	if how == Direct && p.clientCache {
		flags |= syscall.O_DIRECT
	}
	f, err := os.OpenFile(p.full(name), flags, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (p *osPath) OpenRW(_ context.Context, name string) (File, error) {
	f, err := os.OpenFile(p.full(name), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (p *osPath) Stat(_ context.Context, name string) (int64, error) {
	fi, err := os.Stat(p.full(name))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (p *osPath) Remove(_ context.Context, name string) error    { return os.Remove(p.full(name)) }
func (p *osPath) Mkdir(_ context.Context, name string) error     { return os.Mkdir(p.full(name), 0o755) }
func (p *osPath) RemoveAll(_ context.Context, name string) error { return os.RemoveAll(p.full(name)) }

func (p *osPath) ReadDir(_ context.Context, name string) (int, error) {
	// Names and types only (getdents), as `ls` without -l does: what is
	// measured is READDIR, not a GETATTR per entry.
	f, err := os.Open(p.full(name))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	for {
		names, err := f.Readdirnames(4096)
		n += len(names)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (p *osPath) Close() error {
	if p.close == nil {
		return nil
	}
	return p.close()
}

// osFile adapts *os.File; the context is not consulted because a system
// call cannot be interrupted half-way by one.
type osFile struct{ f *os.File }

func (f osFile) ReadAt(_ context.Context, b []byte, off int64) (int, error) {
	return f.f.ReadAt(b, off)
}

func (f osFile) WriteAt(_ context.Context, b []byte, off int64) (int, error) {
	return f.f.WriteAt(b, off)
}

func (f osFile) Sync(context.Context) error  { return f.f.Sync() }
func (f osFile) Close(context.Context) error { return f.f.Close() }

package bench

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// noent is what a missing name maps to.
const noent = syscall.ENOENT

// clientPath reaches the data through nfsclient calls, no FUSE and no
// kernel: one COMPOUND per operation, as fusefs would send them. It is
// what our own stack could reach if FUSE cost nothing.
type clientPath struct {
	name  string
	c     *nfsclient.Client
	cred  rpc.Cred
	depth int
	close func() error

	mu   sync.Mutex              // guards dirs
	dirs map[string]nfsclient.FH // directory handles by relative name; "" is the working directory
}

// processes: the client runs in the bench process, which serves the
// path and is the whole client.
func (p *clientPath) processes() procSet {
	return procSet{serving: self, hasServ: true, client: []int{self}}
}

// newClientPath makes dir (absolute on the server, created if missing)
// the working directory of a client path.
func newClientPath(ctx context.Context, name string, c *nfsclient.Client, dir string, depth int, closeFn func() error) (*clientPath, error) {
	cred := rpc.Root
	fh, _, err := c.LookupPath(ctx, cred, "/")
	if err != nil {
		return nil, fmt.Errorf("bench: %s path: %w", name, err)
	}
	for _, comp := range strings.Split(strings.Trim(dir, "/"), "/") {
		if comp == "" {
			continue
		}
		next, _, err := c.Lookup(ctx, cred, fh, comp)
		if nfsclient.ErrnoOf(err) == noent {
			mode := uint32(0o755)
			next, _, err = c.Create(ctx, cred, fh, comp, nfsclient.CreateDir, "", nfsclient.SetAttr{Mode: &mode})
		}
		if err != nil {
			return nil, fmt.Errorf("bench: %s path: working directory %s: %w", name, dir, err)
		}
		fh = next
	}
	return &clientPath{name: name, c: c, cred: cred, depth: max(depth, 1), close: closeFn,
		dirs: map[string]nfsclient.FH{"": fh}}, nil
}

func (p *clientPath) Name() string { return p.name }
func (p *clientPath) Depth() int   { return p.depth }

// dir returns the handle of directory name, looking up and remembering
// each component not seen yet (as the kernel's dentry cache would).
func (p *clientPath) dir(ctx context.Context, name string) (nfsclient.FH, error) {
	name = path.Clean("/" + name)[1:]
	p.mu.Lock()
	fh, ok := p.dirs[name]
	p.mu.Unlock()
	if ok {
		return fh, nil
	}
	parent, base := path.Split(name)
	pfh, err := p.dir(ctx, parent)
	if err != nil {
		return nil, err
	}
	fh, _, err = p.c.Lookup(ctx, p.cred, pfh, base)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	p.mu.Lock()
	p.dirs[name] = fh
	p.mu.Unlock()
	return fh, nil
}

// split returns the parent directory's handle and the base name.
func (p *clientPath) split(ctx context.Context, name string) (nfsclient.FH, string, error) {
	parent, base := path.Split(path.Clean("/" + name)[1:])
	fh, err := p.dir(ctx, parent)
	return fh, base, err
}

func (p *clientPath) open(ctx context.Context, name string, access uint32, create nfsclient.CreateMode) (File, error) {
	dir, base, err := p.split(ctx, name)
	if err != nil {
		return nil, err
	}
	a := nfsclient.OpenArgs{Dir: dir, Name: base, Access: access, Create: create}
	if create != nfsclient.NoCreate {
		mode, size := uint32(0o644), uint64(0)
		a.Attrs = nfsclient.SetAttr{Mode: &mode, Size: &size}
	}
	o, err := p.c.Open(ctx, p.cred, a)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return &clientFile{p: p, fh: o.FH, st: o.Stateid}, nil
}

func (p *clientPath) Create(ctx context.Context, name string) (File, error) {
	return p.open(ctx, name, nfsclient.ShareBoth, nfsclient.Unchecked)
}

// Open ignores how: the client paths have no client-side cache to bypass.
func (p *clientPath) Open(ctx context.Context, name string, _ OpenHow) (File, error) {
	return p.open(ctx, name, nfsclient.ShareRead, nfsclient.NoCreate)
}

func (p *clientPath) OpenRW(ctx context.Context, name string) (File, error) {
	return p.open(ctx, name, nfsclient.ShareBoth, nfsclient.NoCreate)
}

func (p *clientPath) Stat(ctx context.Context, name string) (int64, error) {
	dir, base, err := p.split(ctx, name)
	if err != nil {
		return 0, err
	}
	_, a, err := p.c.Lookup(ctx, p.cred, dir, base)
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", name, err)
	}
	return int64(a.Size), nil
}

func (p *clientPath) Remove(ctx context.Context, name string) error {
	dir, base, err := p.split(ctx, name)
	if err != nil {
		return err
	}
	if err := p.c.Remove(ctx, p.cred, dir, base); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	p.forget(name)
	return nil
}

func (p *clientPath) Mkdir(ctx context.Context, name string) error {
	dir, base, err := p.split(ctx, name)
	if err != nil {
		return err
	}
	mode := uint32(0o755)
	fh, _, err := p.c.Create(ctx, p.cred, dir, base, nfsclient.CreateDir, "", nfsclient.SetAttr{Mode: &mode})
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", name, err)
	}
	p.mu.Lock()
	p.dirs[path.Clean("/" + name)[1:]] = fh
	p.mu.Unlock()
	return nil
}

// RemoveAll deletes name and everything below it, depth first, since
// REMOVE of a non-empty directory fails.
func (p *clientPath) RemoveAll(ctx context.Context, name string) error {
	dir, base, err := p.split(ctx, name)
	if err != nil {
		return err
	}
	fh, a, err := p.c.Lookup(ctx, p.cred, dir, base)
	if nfsclient.ErrnoOf(err) == noent {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if a.Type == nfsclient.TypeDir {
		ents, err := p.c.ReadDirAll(ctx, p.cred, fh)
		if err != nil {
			return fmt.Errorf("remove %s: list: %w", name, err)
		}
		for _, e := range ents {
			if err := p.RemoveAll(ctx, path.Join(name, e.Name)); err != nil {
				return err
			}
		}
	}
	return p.Remove(ctx, name)
}

// forget drops cached handles of name and everything below it.
func (p *clientPath) forget(name string) {
	name = path.Clean("/" + name)[1:]
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.dirs {
		if k == name || strings.HasPrefix(k, name+"/") {
			delete(p.dirs, k)
		}
	}
}

func (p *clientPath) ReadDir(ctx context.Context, name string) (int, error) {
	fh, err := p.dir(ctx, name)
	if err != nil {
		return 0, err
	}
	ents, err := p.c.ReadDirAll(ctx, p.cred, fh)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", name, err)
	}
	return len(ents), nil
}

func (p *clientPath) Close() error {
	if p.close == nil {
		return nil
	}
	return p.close()
}

// clientFile is one OPEN: I/O goes straight to READ and WRITE (UNSTABLE;
// Sync is COMMIT), split at the session's maximum size.
type clientFile struct {
	p  *clientPath
	fh nfsclient.FH
	st nfsclient.Stateid
}

func (f *clientFile) ReadAt(ctx context.Context, b []byte, off int64) (int, error) {
	c := f.p.c
	n := 0
	for n < len(b) {
		end := min(len(b), n+int(c.MaxRead()))
		m, eof, err := c.Read(ctx, f.p.cred, f.fh, f.st, uint64(off)+uint64(n), b[n:end])
		n += m
		if err != nil {
			return n, fmt.Errorf("read: %w", err)
		}
		if eof || m == 0 {
			if n < len(b) {
				return n, io.EOF
			}
			break
		}
	}
	return n, nil
}

func (f *clientFile) WriteAt(ctx context.Context, b []byte, off int64) (int, error) {
	c := f.p.c
	n := 0
	for n < len(b) {
		end := min(len(b), n+int(c.MaxWrite()))
		w, err := c.Write(ctx, f.p.cred, f.fh, f.st, uint64(off)+uint64(n), b[n:end], nfsclient.Unstable)
		n += int(w.Count)
		if err != nil {
			return n, fmt.Errorf("write: %w", err)
		}
		if w.Count == 0 {
			return n, io.ErrShortWrite
		}
	}
	return n, nil
}

func (f *clientFile) Sync(ctx context.Context) error {
	if _, err := f.p.c.Commit(ctx, f.p.cred, f.fh, 0, 0); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (f *clientFile) Close(ctx context.Context) error {
	if err := f.p.c.CloseState(ctx, f.p.cred, f.fh, f.st); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

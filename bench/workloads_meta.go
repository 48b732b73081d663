package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// freshDir empties name (through the setup path) and makes it again
// through p, so a workload starts from an empty directory.
func (e *env) freshDir(ctx context.Context, p Path, name string) error {
	if err := e.setup.RemoveAll(ctx, name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clear %s: %w", name, err)
	}
	if err := p.Mkdir(ctx, name); err != nil {
		return fmt.Errorf("make %s: %w", name, err)
	}
	return nil
}

// smallFiles runs four phases over p.Files files, each phase over all
// files before the next (as a build or an rsync does): create and write
// 4 KiB and close; stat; open, read and close; delete. Latency is per
// operation; the figure is whole files per second.
func smallFiles(ctx context.Context, e *env, p Params) (measure, error) {
	if err := e.freshDir(ctx, e.path, "small"); err != nil {
		return measure{}, err
	}
	name := func(i int) string { return fmt.Sprintf("small/f%05d", i) }
	data := pattern(int(p.FileSize))
	buf := make([]byte, p.FileSize)
	var h hist
	timed := func(op string, f func(i int) error) error {
		for i := 0; i < p.Files; i++ {
			t0 := time.Now()
			if err := f(i); err != nil {
				return fmt.Errorf("%s %s: %w", op, name(i), err)
			}
			h.add(time.Since(t0))
		}
		return nil
	}
	start := e.begin()
	err := errors.Join(
		timed("create", func(i int) error {
			f, err := e.path.Create(ctx, name(i))
			if err != nil {
				return err
			}
			_, err = f.WriteAt(ctx, data, 0)
			return errors.Join(err, f.Close(ctx))
		}),
		timed("stat", func(i int) error {
			n, err := e.path.Stat(ctx, name(i))
			if err == nil && n != p.FileSize {
				err = fmt.Errorf("size %d, want %d", n, p.FileSize)
			}
			return err
		}),
		timed("read", func(i int) error {
			f, err := e.path.Open(ctx, name(i), Cached)
			if err != nil {
				return err
			}
			n, err := f.ReadAt(ctx, buf, 0)
			if err == nil && n != len(buf) {
				err = fmt.Errorf("read %d of %d bytes", n, len(buf))
			}
			return errors.Join(err, f.Close(ctx))
		}),
		timed("delete", func(i int) error { return e.path.Remove(ctx, name(i)) }),
	)
	if err != nil {
		return measure{}, err
	}
	return measure{ops: int64(p.Files), bytes: int64(p.Files) * p.FileSize, elapsed: e.end(start), lat: h}, nil
}

// listDir lists a directory of p.Files empty files p.Repeat times. The
// directory is made once (through the setup path) and kept; caches are
// dropped before each listing, outside the timing. Latency is per listing.
func listDir(ctx context.Context, e *env, p Params) (measure, error) {
	const dir = "list"
	if n, err := e.setup.ReadDir(ctx, dir); err != nil || n != p.Files {
		if err := e.freshDir(ctx, e.setup, dir); err != nil {
			return measure{}, err
		}
		for i := 0; i < p.Files; i++ {
			f, err := e.setup.Create(ctx, fmt.Sprintf("%s/entry-%06d", dir, i))
			if err != nil {
				return measure{}, fmt.Errorf("prepare %s: %w", dir, err)
			}
			if err := f.Close(ctx); err != nil {
				return measure{}, fmt.Errorf("prepare %s: %w", dir, err)
			}
		}
	}
	var m measure
	for r := 0; r < p.Repeat; r++ {
		if p.Cold {
			var err error
			if _, m.note, err = e.cold(); err != nil {
				return measure{}, err
			}
		}
		t0 := time.Now()
		n, err := e.path.ReadDir(ctx, dir)
		d := time.Since(t0)
		if err != nil {
			return measure{}, fmt.Errorf("list %s: %w", dir, err)
		}
		if n != p.Files {
			return measure{}, fmt.Errorf("list %s: %d entries, want %d", dir, n, p.Files)
		}
		m.lat.add(d)
		m.elapsed += d
		m.ops += int64(n)
	}
	return m, nil
}

// ttfb opens files never opened through this path and reads their first
// 4 KiB: the latency an application waits for a file's first byte. The
// files are made through the setup path, caches dropped after. Close is
// outside the timing.
func ttfb(ctx context.Context, e *env, p Params) (measure, error) {
	const dir = "ttfb"
	if err := e.freshDir(ctx, e.setup, dir); err != nil {
		return measure{}, err
	}
	name := func(i int) string { return fmt.Sprintf("%s/f%05d", dir, i) }
	for i := 0; i < p.Files; i++ {
		if err := e.setupFile(ctx, name(i), p.FileSize); err != nil {
			return measure{}, err
		}
	}
	var m measure
	if p.Cold {
		var err error
		if _, m.note, err = e.cold(); err != nil {
			return measure{}, err
		}
	}
	buf := alignedBuf(p.Block)
	for i := 0; i < p.Files; i++ {
		t0 := time.Now()
		f, err := e.path.Open(ctx, name(i), Cached)
		if err != nil {
			return measure{}, err
		}
		n, err := f.ReadAt(ctx, buf, 0)
		d := time.Since(t0)
		err = errors.Join(err, f.Close(ctx))
		if err == nil && n != len(buf) {
			err = fmt.Errorf("read %d of %d bytes", n, len(buf))
		}
		if err != nil {
			return measure{}, fmt.Errorf("first byte of %s: %w", name(i), err)
		}
		m.lat.add(d)
		m.elapsed += d
		m.ops++
	}
	return m, nil
}

// setupFile writes a file of size bytes through the setup path.
func (e *env) setupFile(ctx context.Context, name string, size int64) error {
	f, err := e.setup.Create(ctx, name)
	if err != nil {
		return fmt.Errorf("prepare %s: %w", name, err)
	}
	_, err = f.WriteAt(ctx, pattern(int(size)), 0)
	if err = errors.Join(err, f.Close(ctx)); err != nil {
		return fmt.Errorf("prepare %s: %w", name, err)
	}
	return nil
}

// untar unpacks e.tarball under "untar": directories with Mkdir, files
// with Create, WriteAt and Close, as tar does (no fsync). Latency is per
// tar entry; the figure is regular files per second.
func untar(ctx context.Context, e *env, _ Params) (measure, error) {
	const dir = "untar"
	if err := e.freshDir(ctx, e.path, dir); err != nil {
		return measure{}, err
	}
	var m measure
	tr := tar.NewReader(bytes.NewReader(e.tarball))
	start := e.begin()
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return measure{}, fmt.Errorf("untar: %w", err)
		}
		name := path.Join(dir, hdr.Name)
		t0 := time.Now()
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = e.path.Mkdir(ctx, name)
		case tar.TypeReg:
			err = writeAll(ctx, e.path, name, tr)
			m.ops++
			m.bytes += hdr.Size
		}
		if err != nil {
			return measure{}, fmt.Errorf("untar %s: %w", name, err)
		}
		m.lat.add(time.Since(t0))
	}
	m.elapsed = e.end(start)
	return m, nil
}

// writeAll creates name on p with r's content, in 1 MiB writes.
func writeAll(ctx context.Context, p Path, name string, r io.Reader) error {
	f, err := p.Create(ctx, name)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if _, err := f.WriteAt(ctx, buf[:n], off); err != nil {
				return errors.Join(err, f.Close(ctx))
			}
			off += int64(n)
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return f.Close(ctx)
		}
		if rerr != nil {
			return errors.Join(rerr, f.Close(ctx))
		}
	}
}

// MakeTarball archives the directories and regular files under src
// (in walk order, so each directory precedes its contents) as the
// untar workload's input.
func MakeTarball(src string) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	base := filepath.Dir(src)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("bench: make tarball of %s: %w", src, err)
	}
	return b.Bytes(), nil
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// maxLinks bounds symbolic links followed for one mount point, as the
// kernel's path walk does (ELOOP after 40).
const maxLinks = 40

// resolveMountPoint makes p absolute with every symbolic link resolved:
// the kernel records a mount under the resolved path, so a mount made or
// named through a link must be looked up there. The mount point itself is
// only ever read with readlink, never stat: on a dead or hung FUSE mount a
// stat of its root fails or blocks, and unmount must still work there.
func resolveMountPoint(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("mount point %s: %w", p, err)
	}
	for range maxLinks {
		dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
		if err != nil {
			return "", fmt.Errorf("mount point %s: %w", abs, err)
		}
		abs = filepath.Join(dir, filepath.Base(abs))
		target, err := os.Readlink(abs)
		if err != nil {
			return abs, nil // not a link (or missing: the caller says so)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		abs = filepath.Clean(target)
	}
	return "", fmt.Errorf("mount point %s: too many levels of symbolic links", p)
}

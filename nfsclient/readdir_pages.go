package nfsclient

import (
	"fmt"
	"syscall"
)

// dirLimits bound what one listing of a directory may take in.
type dirLimits struct {
	Entries int // entries in the whole listing
	Bytes   int // name bytes in the whole listing
}

// defaultDirLimits: far beyond a directory anyone lists (a 4 million entry
// directory is already a problem of its own), and small enough that a
// server sending entries for ever fails the listing before the mount runs
// out of memory.
var defaultDirLimits = dirLimits{Entries: 4 << 20, Bytes: 512 << 20}

// readPages follows READDIR pages from cookie 0 until EOF. The server must
// move on each time: a cookie it gave before, or one of the reserved
// cookies 0-2 (RFC 8881 section 18.23.3), would restart or repeat the
// listing, so a server repeating a page once made opendir loop for ever.
// Cookies are opaque (ganesha's follow the file system's hashed directory
// offsets), so "moving on" means never seen before, not numerically
// larger. A listing past lim fails too. Such failures are EIO, naming what
// the server did.
func readPages(fetch func(cookie uint64, verf [8]byte) (DirPage, error), lim dirLimits) ([]DirEntry, error) {
	var (
		all    []DirEntry
		cookie uint64
		verf   [8]byte
		bytes  int
		seen   = map[uint64]bool{}
	)
	for {
		page, err := fetch(cookie, verf)
		if err != nil {
			return nil, err
		}
		for _, e := range page.Entries {
			bytes += len(e.Name)
		}
		all = append(all, page.Entries...)
		switch {
		case len(all) > lim.Entries:
			return nil, fmt.Errorf("READDIR: the server sent more than %d entries for one directory: %w", lim.Entries, syscall.EIO)
		case bytes > lim.Bytes:
			return nil, fmt.Errorf("READDIR: the server sent more than %d bytes of names for one directory: %w", lim.Bytes, syscall.EIO)
		}
		if page.EOF || len(page.Entries) == 0 {
			return all, nil
		}
		next := page.Entries[len(page.Entries)-1].Cookie
		if next <= 2 || seen[next] {
			return nil, fmt.Errorf("READDIR: the server sent cookie %d again after %d entries, the listing would never end: %w", next, len(all), syscall.EIO)
		}
		seen[next] = true
		cookie, verf = next, page.Verifier
	}
}

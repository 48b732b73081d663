package nfsclient

import (
	"errors"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// pageServer is a READDIR server of n pages of size entries each, with
// cookies 100, 101, ...; repeatAt >= 0 makes it answer that page for every
// later request (a server repeating a page, never at EOF).
func pageServer(n, size, repeatAt int) func(uint64, [8]byte) (DirPage, error) {
	return func(cookie uint64, _ [8]byte) (DirPage, error) {
		page := 0
		if cookie != 0 {
			page = int(cookie-100)/size + 1
		}
		if repeatAt >= 0 && page > repeatAt {
			page = repeatAt
		}
		var p DirPage
		for i := 0; i < size; i++ {
			k := page*size + i
			p.Entries = append(p.Entries, DirEntry{Name: "f" + strconv.Itoa(k), Cookie: uint64(100 + k)})
		}
		p.EOF = repeatAt < 0 && page == n-1
		return p, nil
	}
}

// readPagesWithin runs readPages, failing the test if it does not return
// within a few seconds (a listing that never ends).
func readPagesWithin(t *testing.T, fetch func(uint64, [8]byte) (DirPage, error), lim dirLimits) ([]DirEntry, error) {
	t.Helper()
	type result struct {
		ents []DirEntry
		err  error
	}
	done := make(chan result, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		ents, err := readPages(func(c uint64, v [8]byte) (DirPage, error) {
			select {
			case <-stop:
				return DirPage{}, errors.New("test over")
			default:
			}
			return fetch(c, v)
		}, lim)
		done <- result{ents, err}
	}()
	select {
	case r := <-done:
		return r.ents, r.err
	case <-time.After(5 * time.Second):
		t.Fatal("the directory listing did not end")
	}
	return nil, nil
}

func TestReadPages(t *testing.T) {
	ents, err := readPagesWithin(t, pageServer(5, 3, -1), defaultDirLimits)
	if err != nil || len(ents) != 15 {
		t.Fatalf("5 pages of 3: %d entries, %v", len(ents), err)
	}
	// A server that repeats its second page for ever.
	if _, err := readPagesWithin(t, pageServer(5, 3, 1), defaultDirLimits); !errors.Is(err, syscall.EIO) {
		t.Fatalf("repeated page: %v, want EIO", err)
	}
	// A cookie that sends the client back to the start.
	restart := func(uint64, [8]byte) (DirPage, error) {
		return DirPage{Entries: []DirEntry{{Name: "a", Cookie: 0}}}, nil
	}
	if _, err := readPagesWithin(t, restart, defaultDirLimits); !errors.Is(err, syscall.EIO) {
		t.Fatalf("reserved cookie: %v, want EIO", err)
	}
	// Endless fresh entries stop at the caps.
	if _, err := readPagesWithin(t, pageServer(1<<30, 100, -1), dirLimits{Entries: 1000, Bytes: 1 << 20}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("entry cap: %v, want EIO", err)
	}
	if _, err := readPagesWithin(t, pageServer(1<<30, 100, -1), dirLimits{Entries: 1 << 20, Bytes: 1000}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("byte cap: %v, want EIO", err)
	}
}

package e2e

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestLargeIOUnderCuts: a 512 MiB write and a 512 MiB read through the FUSE
// mount while every connection is cut every 2 s. The applications (dd) see
// no error and the data matches the source, on the mount and on disk.
func TestLargeIOUnderCuts(t *testing.T) {
	const size = 512 << 20
	r := mountRig(t, "")
	src, want := randomFile(t, size)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	cuts := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				cuts += r.tgt.CutConnections()
			}
		}
	}()
	dst := filepath.Join(r.mnt, "big")
	start := time.Now()
	run(t, "dd", "if="+src, "of="+dst, "bs=1M", "conv=fsync", "status=none")
	wrote := time.Since(start)
	// O_DIRECT: every byte comes from the server, not the page cache.
	start = time.Now()
	got := fileSumDirect(t, dst)
	read := time.Since(start)
	close(stop)
	wg.Wait()
	if got != want {
		t.Fatal("data read back through the mount differs from the source")
	}
	if fileSum(t, filepath.Join(r.export, "big")) != want {
		t.Fatal("backing file differs from the source")
	}
	t.Logf("512 MiB written in %v and read in %v with %d connections cut", wrote, read, cuts)
	if cuts == 0 {
		t.Fatal("no connection was cut during the transfer")
	}
}

package fusefs_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/efs-fuse/efs-fuse/fusefs"
)

// Eight writers and eight readers at once stay within the mount's memory
// budget: the budget is what writers wait for (and what commits early),
// not a window per file, so the data held never exceeds it by more than
// one buffer per write in progress. Every byte still arrives.
func TestMemoryBoundUnderParallelLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB through a mount")
	}
	const (
		budget   = 16 << 20
		files    = 8
		size     = 16 << 20
		block    = 1 << 20
		overshot = files * block // one buffer per write in progress
	)
	e := mount(t, func(o *fusefs.Options) { o.MemoryBudget = budget })
	content := func(i int) []byte {
		s := fmt.Sprintf("file %d block ", i)
		return bytes.Repeat([]byte(s), block/len(s)+1)[:block]
	}
	for i := range files { // the readers' files, written through the export
		var b bytes.Buffer
		for range size / block {
			b.Write(content(100 + i))
		}
		if err := os.WriteFile(filepath.Join(e.export, fmt.Sprintf("r%d", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*files)
	for i := range files {
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- writeFile(filepath.Join(e.mnt, fmt.Sprintf("w%d", i)), content(i), size/block)
		}()
		go func() {
			defer wg.Done()
			errs <- readFile(filepath.Join(e.mnt, fmt.Sprintf("r%d", i)), content(100+i), size/block)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	held, peak := e.srv.MemoryStats()
	t.Logf("budget %d MiB: peak held %.1f MiB, held at the end %d bytes", budget>>20, float64(peak)/(1<<20), held)
	if peak > budget+overshot {
		t.Errorf("peak %d MiB held, over the budget of %d MiB plus %d MiB for writes in progress", peak>>20, budget>>20, overshot>>20)
	}
	if peak < budget/2 {
		t.Errorf("peak %d MiB: the load never came near the budget, so the test proves nothing", peak>>20)
	}
	for i := range files {
		if err := readFile(filepath.Join(e.export, fmt.Sprintf("w%d", i)), content(i), size/block); err != nil {
			t.Errorf("written through the mount, read on the server: %v", err)
		}
	}
}

func writeFile(name string, block []byte, blocks int) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	for range blocks {
		if _, err := f.Write(block); err != nil {
			_ = f.Close()
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	return nil
}

func readFile(name string, block []byte, blocks int) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, len(block))
	for i := range blocks {
		if _, err := io.ReadFull(f, buf); err != nil {
			return fmt.Errorf("read %s block %d: %w", name, i, err)
		}
		if !bytes.Equal(buf, block) {
			return fmt.Errorf("%s block %d differs from what was written", name, i)
		}
	}
	return nil
}

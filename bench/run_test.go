package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/efs-fuse/efs-fuse/internal/fallback"
)

// TestRunTiny runs every workload with tiny sizes against a local target
// on the fuse, client, client-plain and local paths: every cell must
// hold a positive figure, and the kernel path must be skipped with its
// reason on a kernel without an NFS client.
func TestRunTiny(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the local target needs root")
	}
	if testing.Short() {
		t.Skip("mounts and starts nfs-ganesha")
	}
	src := t.TempDir()
	for _, d := range []string{"a", "a/b"} {
		if err := os.MkdirAll(filepath.Join(src, "tree", d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, "tree", d, "f.go"), bytes.Repeat([]byte("x"), 5000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	paths := []string{"fuse", "kernel", "client", "client-plain", "local"}
	if fallback.KernelHasNFS4() {
		// Its tunnel would run as this test binary; scripts/uml-bench.sh
		// runs the kernel path with the real one.
		paths = []string{"fuse", "client", "client-plain", "local"}
	}
	r, err := Run(ctx, Config{
		Paths:       paths,
		Sizes:       Sizes{Size: 4 << 20, Threads: 4, Files: 20, Entries: 50, Duration: 200 * time.Millisecond},
		UntarSource: filepath.Join(src, "tree"),
		WorkDir:     t.TempDir(),
		Logger:      zaptest.NewLogger(t),
	})
	if r != nil {
		var b bytes.Buffer
		_ = r.WriteTable(&b)
		t.Logf("report:\n%s", b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	ran := r.RanPaths()
	if len(ran) != 4 {
		t.Fatalf("paths that ran: %v (statuses %+v)", ran, r.Paths)
	}
	for _, w := range r.Workloads {
		for _, p := range ran {
			res, ok := r.Find(w.Name, p)
			if !ok || res.Value <= 0 || res.Ops <= 0 || res.P50 <= 0 {
				t.Errorf("%s on %s: %+v", w.Name, p, res)
			}
		}
	}
	if r.Baseline != "fuse" {
		t.Errorf("baseline %q", r.Baseline)
	}
}

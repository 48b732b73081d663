package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// With Config.Exe the target and the fuse path's daemon run as processes
// of their own, and every sequential cell says what it cost: the fuse
// path's serving process (the daemon) is part of the whole client, which
// costs more than the daemon alone; the daemon's peak RSS is known.
func TestRunSeparateProcesses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the local target needs root")
	}
	if testing.Short() {
		t.Skip("builds efs-fuse, mounts and starts nfs-ganesha")
	}
	exe := filepath.Join(t.TempDir(), "efs-fuse")
	if out, err := exec.Command("go", "build", "-o", exe, "../cmd/efs-fuse").CombinedOutput(); err != nil {
		t.Fatalf("build efs-fuse: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r, err := Run(ctx, Config{
		Paths:     []string{"fuse", "client"},
		Workloads: []string{"seqwrite", "seqread-cold-client"},
		Sizes:     Sizes{Size: 32 << 20},
		WorkDir:   t.TempDir(),
		Exe:       exe,
		Logger:    zaptest.NewLogger(t),
	})
	if r != nil {
		var b bytes.Buffer
		_ = r.WriteTable(&b)
		t.Logf("report:\n%s", b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"seqwrite", "seqread-cold-client"} {
		fuse, _ := r.Find(w, "fuse")
		client, _ := r.Find(w, "client")
		if fuse.ServingCPU <= 0 || fuse.ClientCPU <= fuse.ServingCPU || fuse.PeakRSS <= 0 {
			t.Errorf("%s on fuse: serving CPU %v, client CPU %v, peak RSS %d; want both CPUs, the client's above the daemon's, and a peak",
				w, fuse.ServingCPU, fuse.ClientCPU, fuse.PeakRSS)
		}
		if client.ServingCPU <= 0 || client.ClientCPU != client.ServingCPU {
			t.Errorf("%s on client: serving CPU %v, client CPU %v; want one process's, equal", w, client.ServingCPU, client.ClientCPU)
		}
		// 32 MiB in 1 MiB blocks: one READ or WRITE each, plus OPEN,
		// CLOSE, COMMIT and the like: between 1 and 2 per block.
		for _, res := range []Result{fuse, client} {
			if per := float64(res.RPCs) / float64(res.Ops); per < 1 || per > 2 {
				t.Errorf("%s on %s: %d RPCs for %d blocks of 1 MiB", w, res.Path, res.RPCs, res.Ops)
			}
		}
	}
}

// The libnfs-stunnel path reads the large file with nfs-cp through
// stunnel, charging stunnel as the serving process and nfs-cp on top of
// it to the client; it runs nothing but sequential reads.
func TestRunLibNFSStunnel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the local target needs root")
	}
	for _, tool := range []string{"nfs-cp", "stunnel4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/install-deps installs libnfs-utils and stunnel4)", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := Run(ctx, Config{
		Paths:     []string{libnfsPathName},
		Workloads: []string{"seqwrite", "seqread-cold-client"},
		Sizes:     Sizes{Size: 32 << 20},
		WorkDir:   t.TempDir(),
		Logger:    zaptest.NewLogger(t),
	})
	if r != nil {
		var b bytes.Buffer
		_ = r.WriteTable(&b)
		t.Logf("report:\n%s", b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Find("seqwrite", libnfsPathName); ok {
		t.Error("seqwrite ran on the reads-only libnfs path")
	}
	res, ok := r.Find("seqread-cold-client", libnfsPathName)
	if !ok || res.Value <= 0 || res.Bytes != 32<<20 {
		t.Fatalf("seqread-cold-client: %+v; want a figure for 32 MiB read", res)
	}
	if res.ServingCPU <= 0 || res.ClientCPU <= res.ServingCPU || res.PeakRSS <= 0 {
		t.Errorf("stunnel CPU %v, client CPU %v, peak RSS %d: want stunnel's, more with nfs-cp's, and a peak", res.ServingCPU, res.ClientCPU, res.PeakRSS)
	}
}

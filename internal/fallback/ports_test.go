package fallback

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

// freeRange finds n consecutive free loopback ports.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		base := 30000 + rand.IntN(20000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func bind(t *testing.T, port int) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

func touch(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSelectPortSkipsBusyAndClaimedPorts(t *testing.T) {
	dir := t.TempDir()
	base := freeRange(t, 6)
	bind(t, base)
	bind(t, base+1)
	bind(t, base+2)
	touch(t, dir, "fs-deadbeef.mnt.efs."+strconv.Itoa(base+3))    // a mount (tunnel maybe dead: still claimed)
	touch(t, dir, "~fs-deadbeef.mnt.other."+strconv.Itoa(base+4)) // a mount in progress
	req := PortRequest{Lower: base, Upper: base + 6, StateDir: dir, ConfigPath: "/etc/amazon/efs/efs-utils.conf"}
	for range 20 { // random order: every run must still land on the free one
		ln, err := SelectPort(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := ln.Addr().(*net.TCPAddr).Port; got != base+5 {
			t.Fatalf("selected %d, want %d (the only free, unclaimed port)", got, base+5)
		}
		ln.Close()
	}

	bind(t, base+5)
	_, err := SelectPort(req)
	want := "Failed to locate an available port in the range [" + strconv.Itoa(base) + ", " + strconv.Itoa(base+6) +
		"], try specifying a different port range in /etc/amazon/efs/efs-utils.conf"
	var ue *mountopts.UsageError
	if !errors.As(err, &ue) || ue.Msg != want {
		t.Fatalf("all taken: %v\nwant %s", err, want)
	}
}

func TestSelectPortTriesEveryPortInRandomOrder(t *testing.T) {
	base := freeRange(t, 3)
	var seen []int
	ln, err := SelectPort(PortRequest{Lower: base, Upper: base + 3, StateDir: t.TempDir(),
		Shuffle: func(p []int) { seen = append(seen, p...); p[0], p[2] = p[2], p[0] }})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if len(seen) != 3 || seen[0] != base || seen[2] != base+2 {
		t.Errorf("candidates %v, want [%d, %d) (upper bound exclusive)", seen, base, base+3)
	}
	if got := ln.Addr().(*net.TCPAddr).Port; got != base+2 {
		t.Errorf("selected %d, want the first in shuffled order %d", got, base+2)
	}
}

func TestSelectPortFixed(t *testing.T) {
	dir := t.TempDir()
	base := freeRange(t, 2)
	ln, err := SelectPort(PortRequest{Fixed: base, Lower: 1, Upper: 2, StateDir: dir})
	if err != nil {
		t.Fatalf("free tlsport: %v", err)
	}
	ln.Close()

	bind(t, base)
	touch(t, dir, "fs-1.mnt."+strconv.Itoa(base+1))
	for _, p := range []int{base, base + 1} { // bound; claimed by a state file
		_, err := SelectPort(PortRequest{Fixed: p, Lower: 1, Upper: 65535, StateDir: dir})
		want := "Specified port [" + strconv.Itoa(p) + "] is unavailable. Try selecting a different port."
		if err == nil || err.Error() != want {
			t.Errorf("tlsport=%d: %v, want %q", p, err, want)
		}
	}
}

func TestSelectPortMissingStateDir(t *testing.T) {
	base := freeRange(t, 1)
	ln, err := SelectPort(PortRequest{Lower: base, Upper: base + 1, StateDir: filepath.Join(t.TempDir(), "absent")})
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

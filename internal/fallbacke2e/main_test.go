package fallbacke2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/umltest"
)

// binaryEnv carries the path of the efs-fuse binary, built on the host,
// into the guest (which sees the host's files read-only).
const binaryEnv = "EFS_FUSE_E2E_BINARY"

var binary string

func TestMain(m *testing.M) {
	if umltest.IsGuest() {
		binary = os.Getenv(binaryEnv)
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "efs-fuse-fallbacke2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "efs-fuse")
	if out, err := exec.Command("go", "build", "-o", binary, "../../cmd/efs-fuse").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build efs-fuse: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// inGuest runs the calling test in a guest with the binary (see
// umltest.InGuest); false on the host, where the caller returns. Guests
// are independent machines and the tests spend most of their time
// waiting (the watchdog's unmount grace, mount.nfs4's retries, the
// server's grace period), so on the host they run in parallel.
func inGuest(t *testing.T, timeout time.Duration) bool {
	if !umltest.IsGuest() {
		t.Parallel()
	}
	return umltest.InGuest(t, umltest.Env(binaryEnv+"="+binary), umltest.Timeout(timeout), umltest.MemMiB(2048))
}

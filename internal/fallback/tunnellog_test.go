package fallback

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWithTunnelError(t *testing.T) {
	log := filepath.Join(t.TempDir(), "t.tunnel.log")
	base := errors.New("Failed to mount x at /m: context deadline exceeded")
	if got := withTunnelError(base, log); got != base {
		t.Errorf("without a log: %v, want the error unchanged", got)
	}
	content := "2026-12-06 08:05:02 UTC - INFO - relay listening\n" +
		"2026-12-06 08:05:03 UTC - ERROR - cannot reach the mount target; closing the local connection - {\"error\": \"old\"}\n" +
		"2026-12-06 08:05:04 UTC - ERROR - cannot reach the mount target; closing the local connection - {\"error\": \"certificate is valid for a, not b\"}\n" +
		"2026-12-06 08:05:05 UTC - INFO - relay ended\n"
	if err := os.WriteFile(log, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	got := withTunnelError(base, log)
	if !errors.Is(got, base) || !strings.Contains(got.Error(), `certificate is valid for a, not b`) || strings.Contains(got.Error(), "old") {
		t.Errorf("withTunnelError = %v, want the base error and the last ERROR line", got)
	}
}

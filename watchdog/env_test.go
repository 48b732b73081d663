package watchdog

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNoAWSCredentialsPassedOn: neither the detached watchdog nor a
// remount it runs sees the AWS_* variables of the environment it was
// started from (they used to be passed on whole).
func TestNoAWSCredentialsPassedOn(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-test-secret")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIA-test")
	t.Setenv("EFS_FUSE_KEEP", "kept")
	dir := t.TempDir()

	spawned := filepath.Join(dir, "spawned")
	if _, err := SpawnDetached([]string{"/bin/sh", "-c", "env > " + spawned + ".tmp && mv " + spawned + ".tmp " + spawned}, os.Environ()); err != nil {
		t.Fatal(err)
	}
	remounted := filepath.Join(dir, "remounted")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := runRemount(ctx, []string{"/bin/sh", "-c", "env > " + remounted}, 0, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the detached process's environment", func() bool {
		_, err := os.Stat(spawned)
		return err == nil
	})
	for _, f := range []string{spawned, remounted} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		env := string(b)
		if strings.Contains(env, "AWS_") {
			t.Errorf("%s got AWS variables:\n%s", filepath.Base(f), env)
		}
		if !strings.Contains(env, "EFS_FUSE_KEEP=kept") {
			t.Errorf("%s lost the rest of the environment:\n%s", filepath.Base(f), env)
		}
	}
}

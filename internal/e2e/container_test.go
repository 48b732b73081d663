package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestRootlessContainer: a rootless podman container (run by uid 1000 with
// runc, an image with nothing but busybox and the static efs-fuse binary,
// `--network host --device /dev/fuse --cap-add SYS_ADMIN`) mounts the
// local target as container root: a 64 MiB round trip, files created,
// appended, renamed, chmod'ed and removed, owned by container root inside
// and by the user's host uid on the server.
func TestRootlessContainer(t *testing.T) {
	for _, c := range []string{"podman", "runc", "newuidmap"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s not installed (.ci/install-deps installs podman, runc and uidmap)", c)
		}
	}
	e := newUserEnv(t)
	user := podmanUser(t)
	home := filepath.Join(e.export, "u")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	image := buildImage(t, e.home)
	podman := func(args ...string) (string, error) {
		all := append([]string{"-u", user, "--", "env", "HOME=" + e.home, "XDG_RUNTIME_DIR=", "podman",
			"--storage-driver", "vfs", "--runtime", "runc"}, args...)
		out, err := exec.Command("runuser", all...).CombinedOutput()
		return string(out), err
	}
	before := podmanProcesses()
	if out, err := podman("import", image, "efs-fuse-e2e:latest"); err != nil {
		t.Fatalf("podman import: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_, _ = podman("rmi", "-f", "efs-fuse-e2e:latest")
		_, _ = podman("unshare", "rm", "-rf", filepath.Join(e.home, ".local/share/containers"))
		// Rootless podman leaves a pause process holding its user and
		// mount namespaces. That mount namespace has copies of the
		// mounts of its time, and a FUSE mount copied there never
		// ends: a later test's unmount would wait for it forever.
		for pid := range podmanProcesses() {
			if !before[pid] {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	m := "/mnt/efs"
	script := "set -e; efs-fuse -o " + strings.ReplaceAll(e.options, e.cafile, "/ca.pem") + " fs-12345678:/u " + m +
		"; dd if=/dev/urandom of=/tmp/big bs=1M count=64 2>/dev/null; cp /tmp/big " + m + "/big" +
		"; sha256sum /tmp/big " + m + "/big; echo hi > " + m + "/f; echo more >> " + m + "/f" +
		"; mkdir " + m + "/d; echo x > " + m + "/d/x; mv " + m + "/d/x " + m + "/d/y; chmod 600 " + m + "/d/y" +
		"; stat -c 'owner %u:%g %a %n' " + m + "/f " + m + "/d " + m + "/d/y" +
		"; rm -r " + m + "/d " + m + "/big; echo removed; umount " + m
	out, err := podman("run", "--rm", "--network", "host", "--device", "/dev/fuse", "--cap-add", "SYS_ADMIN",
		"-v", e.cafile+":/ca.pem:ro", "efs-fuse-e2e:latest", "sh", "-c", script)
	if err != nil {
		t.Fatalf("container run failed: %v\n%s", err, out)
	}
	sums := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 && len(f[0]) == 64 {
			sums[f[0]] = true
		}
	}
	if len(sums) != 1 {
		t.Fatalf("the 64 MiB file read back differs:\n%s", out)
	}
	for _, want := range []string{"owner 0:0 644 " + m + "/f", "owner 0:0 755 " + m + "/d", "owner 0:0 600 " + m + "/d/y", "removed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("no %q in the container's output:\n%s", want, out)
		}
	}
	fi, err := os.Stat(filepath.Join(home, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || fi.Size() != int64(len("hi\nmore\n")) {
		t.Fatalf("the container's file on the server: uid %d, %d bytes", st.Uid, fi.Size())
	}
}

// podmanUser is the name of uid 1000, which rootless podman needs with a
// subordinate id range (.ci/install-deps sets both up).
func podmanUser(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("getent", "passwd", testUID).Output()
	if err != nil {
		t.Fatalf("no user with uid %s (run .ci/install-deps): %v", testUID, err)
	}
	name, _, _ := strings.Cut(string(out), ":")
	subuid, _ := os.ReadFile("/etc/subuid")
	if !strings.Contains("\n"+string(subuid), "\n"+name+":") {
		t.Fatalf("%s has no subordinate uids in /etc/subuid, which rootless podman needs (run .ci/install-deps)", name)
	}
	return name
}

// buildImage writes a root file system tarball holding busybox (static,
// from busybox-static) and the static efs-fuse binary, and nothing else.
func buildImage(t *testing.T, dir string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"bin", "mnt/efs", "tmp", "etc", "dev", "proc", "sys", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for src, dst := range map[string]string{"/bin/busybox": "bin/busybox", binary: "bin/efs-fuse"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dst), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"sh", "cat", "echo", "mkdir", "rm", "mv", "chmod", "stat", "dd", "cp", "sha256sum", "umount"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", c)); err != nil {
			t.Fatal(err)
		}
	}
	tarball := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", root, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	if err := os.Chmod(tarball, 0o644); err != nil {
		t.Fatal(err)
	}
	return tarball
}

// podmanProcesses are the pids of processes whose name starts with podman
// (the rootless pause process is "podman pause").
func podmanProcesses() map[int]bool {
	out := map[int]bool{}
	paths, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(b)), "podman") {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			out[pid] = true
		}
	}
	return out
}

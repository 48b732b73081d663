package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/daemon"
	"github.com/efs-fuse/efs-fuse/internal/logging"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

// fakeMounter records requests; it is "ready" at once unless err is set.
type fakeMounter struct {
	mu   sync.Mutex
	reqs []*mountopts.MountRequest
	err  error
}

func (f *fakeMounter) Mount(_ context.Context, req *mountopts.MountRequest, ready func()) error {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	ready()
	return nil
}

// harness runs the whole CLI against a temporary home, a scripted mount
// table and a fake mounter; it never mounts, daemonizes or leaves the host.
type harness struct {
	deps           *mountDeps
	stdout, stderr *bytes.Buffer
	mounter        *fakeMounter
	base, mnt, cfg string
	mountinfo      string
	env            map[string]string
	daemonized     []bool // the foreground argument of each Daemonize call
	daemonErr      error  // returned by Daemonize instead of running the work
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	base := t.TempDir()
	h := &harness{
		stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, mounter: &fakeMounter{},
		base: base, mnt: filepath.Join(base, "mnt"), cfg: filepath.Join(base, "efs-utils.conf"),
		mountinfo: "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n",
		env: map[string]string{"HOME": base, "XDG_STATE_HOME": filepath.Join(base, "state"),
			"XDG_RUNTIME_DIR": filepath.Join(base, "run"), "AWS_REGION": "us-east-1"},
	}
	if err := os.Mkdir(h.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	// --config is given explicitly, so it must exist.
	if err := os.WriteFile(h.cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.deps = &mountDeps{
		Stdout: h.stdout, Stderr: h.stderr,
		Getenv:        func(k string) string { return h.env[k] },
		Euid:          1000,
		ReadMountInfo: func() (string, error) { return h.mountinfo, nil },
		LookupCNAME: func(host string) ([]string, error) {
			if host == "efs.example.com" {
				return []string{"fs-abcdef01.efs.eu-west-1.amazonaws.com."}, nil
			}
			return nil, errors.New("no such host")
		},
		InstanceRegion: func(context.Context) (string, error) { return "", errors.New("no instance metadata in tests") },
		Daemonize: func(fg bool, work func(ready func()) error) error {
			h.daemonized = append(h.daemonized, fg)
			if h.daemonErr != nil {
				return h.daemonErr
			}
			return work(func() {})
		},
		NewLogger: logging.New,
		Mounter:   h.mounter,
	}
	return h
}

// run executes argv with --config pointing at the harness's file.
func (h *harness) run(argv ...string) int {
	return run(context.Background(), append(argv, "--config", h.cfg), h.deps)
}

func (h *harness) log(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.base, "state", "efs-fuse", "log", "mount.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// TestValidationMessages runs each helper message through the whole CLI:
// exit 1, the exact message on stderr, and the message in mount.log.
func TestValidationMessages(t *testing.T) {
	tests := []struct{ name, opts, msg string }{
		{"PortTLS", "tls,port=2050", `The "port" and "tls" options are mutually exclusive`},
		{"TLSPort", "tls,tlsport=x", `tlsport option [x] is not an integer`},
		{"OCSP", "tls,ocsp,noocsp", `The "ocsp" and "noocsp" options are mutually exclusive`},
		{"NoTLS", "tls,notls", `The "tls" and "notls" options are mutually exclusive`},
		{"AccessPointTLS", "accesspoint=fsap-0123456789abcdef0", `The "tls" option is required when mounting via "accesspoint"`},
		{"IAMTLS", "iam", `The "tls" option is required when mounting via "iam"`},
		{"AccessPointMalformed", "tls,accesspoint=fsap-1", `Access Point ID fsap-1 is malformed`},
		{"AWSProfile", "tls,awsprofile=p", `The "iam" option is required when mounting with named profile option, "awsprofile"`},
		{"CAPath", "tls,capath=/x", `Unsupported mount options detected: "capath"`},
		{"AWSCredsURI", "tls,awscredsuri=/x", `The "iam" option is required when mounting with "awscredsuri"`},
		{"RoleARN", "tls,rolearn=r,jwtpath=/j", `The "iam" option is required when mounting with "rolearn"`},
		{"JWTPath", "tls,jwtpath=/j", `The "iam" option is required when mounting with "jwtpath"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if code := h.run("mount.efs", "fs-12345678:/", h.mnt, "-o", tc.opts); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if got := h.stderr.String(); got != tc.msg+"\n" {
				t.Errorf("stderr %q, want %q", got, tc.msg+"\n")
			}
			if log := h.log(t); !strings.Contains(log, " - ERROR - "+tc.msg+"\n") {
				t.Errorf("log lacks the message:\n%s", log)
			}
			if len(h.mounter.reqs) != 0 {
				t.Error("mounter called")
			}
		})
	}
}

func TestOtherFailures(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(h *harness)
		argv   func(h *harness) []string
		stderr string
	}{
		{"BadDevice", nil, func(h *harness) []string { return []string{"efs-fuse", "fs-XY:/", h.mnt} },
			"File system ID fs-XY is malformed\n"},
		{"MissingMountPoint", nil, func(h *harness) []string { return []string{"efs-fuse", "fs-1:/", h.mnt + "/nope"} },
			"Mount point %MNT%/nope does not exist\n"},
		{"NoRegion", func(h *harness) { delete(h.env, "AWS_REGION") }, func(h *harness) []string { return []string{"efs-fuse", "fs-1:/", h.mnt} },
			`Error retrieving region. Please set the "region" parameter in the efs-utils configuration file (%CFG%), pass -o region=REGION, or set AWS_REGION (instance metadata did not answer: no instance metadata in tests)` + "\n"},
		{"MalformedConfig", func(h *harness) { _ = os.WriteFile(h.cfg, []byte("[mount]\nport_range_lower_bound = many\n"), 0o644) },
			func(h *harness) []string { return []string{"efs-fuse", "fs-1:/", h.mnt} },
			`%CFG%: [mount] port_range_lower_bound = "many": not an integer` + "\n"},
		{"MounterFails", func(h *harness) {
			h.mounter.err = errors.New("connect fs-1.efs.us-east-1.amazonaws.com:2049: connection refused")
		},
			func(h *harness) []string { return []string{"efs-fuse", "fs-1:/", h.mnt, "-o", "tls"} },
			"connect fs-1.efs.us-east-1.amazonaws.com:2049: connection refused\n"},
		{"ChildReports", func(h *harness) { h.daemonErr = &daemon.ChildError{Msg: "mount failed in the background"} },
			func(h *harness) []string { return []string{"efs-fuse", "fs-1:/", h.mnt, "-o", "tls"} },
			"mount failed in the background\n"},
		{"BadCNAME", nil, func(h *harness) []string { return []string{"efs-fuse", "nfs.example.com:/", h.mnt} },
			`Failed to resolve "nfs.example.com" - check that the specified DNS name is a CNAME record resolving to a valid EFS DNS name` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.setup != nil {
				tc.setup(h)
			}
			if code := h.run(tc.argv(h)...); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			want := strings.NewReplacer("%MNT%", h.mnt, "%CFG%", h.cfg).Replace(tc.stderr)
			if got := h.stderr.String(); got != want {
				t.Errorf("stderr\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestAlreadyMounted(t *testing.T) {
	for _, fstype := range []string{"nfs4", "fuse.efs-fuse"} {
		t.Run(fstype, func(t *testing.T) {
			h := newHarness(t)
			h.mountinfo += fmt.Sprintf("40 22 0:40 / %s rw - %s fs-12345678:/ rw\n", h.mnt, fstype)
			if code := h.run("mount.efs", "fs-12345678:/", h.mnt, "-o", "tls"); code != 0 {
				t.Errorf("exit %d, want 0; stderr %q", code, h.stderr)
			}
			want := h.mnt + " is already mounted, please run 'mount' command to verify\n"
			if h.stdout.String() != want {
				t.Errorf("stdout %q, want %q", h.stdout, want)
			}
			if len(h.mounter.reqs) != 0 || len(h.daemonized) != 0 {
				t.Error("mounted anyway")
			}
		})
	}
	t.Run("OtherFileSystemIsNotEFS", func(t *testing.T) {
		h := newHarness(t)
		h.mountinfo += fmt.Sprintf("40 22 0:40 / %s rw - tmpfs tmpfs rw\n", h.mnt)
		if code := h.run("efs-fuse", "fs-12345678:/", h.mnt); code != 0 || len(h.mounter.reqs) != 1 {
			t.Errorf("exit %d, mounts %d", code, len(h.mounter.reqs))
		}
	})
}

func TestFakeMount(t *testing.T) {
	h := newHarness(t)
	if code := h.run("/sbin/mount.efs", "fs-12345678:/", h.mnt, "-o", "tls,az=us-east-1a,timeo=100", "-f"); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, h.stderr)
	}
	if len(h.mounter.reqs) != 0 || len(h.daemonized) != 0 {
		t.Error("fake mount mounted")
	}
	out := h.stdout.String()
	for _, want := range []string{
		"fake mount: nothing mounted (mount.efs -f)",
		"server:      us-east-1a.fs-12345678.efs.us-east-1.amazonaws.com",
		"mode:        FUSE, NFSv4.1 over TLS",
		"nfs options: timeo=100,nfsvers=4.1,rsize=1048576,wsize=1048576,hard,retrans=2,noresvport",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The same -f under the efs-fuse name means foreground, not fake.
	h = newHarness(t)
	if code := h.run("efs-fuse", "-f", "fs-12345678:/", h.mnt); code != 0 || len(h.mounter.reqs) != 1 {
		t.Errorf("efs-fuse -f: exit %d, mounts %d", code, len(h.mounter.reqs))
	}
}

func TestMountRequest(t *testing.T) {
	tests := []struct {
		name           string
		argv           func(h *harness) []string
		wantForeground bool
		check          func(t *testing.T, r *mountopts.MountRequest)
	}{
		{"EFSFuseForeground", func(h *harness) []string { return []string{"efs-fuse", "-f", "-o", "tls", "fs-12345678:/data", h.mnt} }, true,
			func(t *testing.T, r *mountopts.MountRequest) {
				if r.FSID != "fs-12345678" || r.Path != "/data" || !r.Options.TLS || r.Target.DialAddr != "fs-12345678.efs.us-east-1.amazonaws.com:2049" {
					t.Errorf("request %+v target %+v", r, r.Target)
				}
			}},
		{"MountFuse3Invocation", func(h *harness) []string {
			return []string{"efs-fuse", "fs-12345678:/", h.mnt, "-o", "rw,dev,suid,tls"}
		}, false,
			func(t *testing.T, r *mountopts.MountRequest) {
				if got := strings.Join(mountopts.NFSOptions(r.Options)[:3], ","); got != "rw,dev,suid" {
					t.Errorf("NFS options start %q", got)
				}
			}},
		{"MountTargetIP", func(h *harness) []string {
			return []string{"mount.efs", "fs-12345678:/", h.mnt, "-o", "tls,mounttargetip=127.0.0.1,mounttargetport=20490,region=eu-west-1"}
		}, false, func(t *testing.T, r *mountopts.MountRequest) {
			if r.Target.DialAddr != "127.0.0.1:20490" || r.Target.ServerName != "fs-12345678.efs.eu-west-1.amazonaws.com" {
				t.Errorf("target %+v", r.Target)
			}
		}},
		// The name the CNAME points at fixes the region, over AWS_REGION.
		{"CNAMEDevice", func(h *harness) []string { return []string{"efs-fuse", "efs.example.com:/x", h.mnt, "-o", "tls"} }, false,
			func(t *testing.T, r *mountopts.MountRequest) {
				if r.FSID != "fs-abcdef01" || r.Target.DNSName != "fs-abcdef01.efs.eu-west-1.amazonaws.com" {
					t.Errorf("request %+v target %+v", r, r.Target)
				}
			}},
		{"RelativeMountPoint", func(h *harness) []string {
			wd, _ := os.Getwd()
			rel, _ := filepath.Rel(wd, h.mnt)
			return []string{"efs-fuse", "fs-12345678", rel}
		}, false, func(t *testing.T, r *mountopts.MountRequest) {
			if !filepath.IsAbs(r.MountPoint) {
				t.Errorf("mount point %q not absolute", r.MountPoint)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if code := h.run(tc.argv(h)...); code != 0 {
				t.Fatalf("exit %d; stderr %q", code, h.stderr)
			}
			if len(h.daemonized) != 1 || h.daemonized[0] != tc.wantForeground {
				t.Errorf("Daemonize calls %v, want foreground=%v", h.daemonized, tc.wantForeground)
			}
			if len(h.mounter.reqs) != 1 {
				t.Fatalf("%d mounts", len(h.mounter.reqs))
			}
			r := h.mounter.reqs[0]
			if r.Logger == nil || r.Config == nil || r.StateDir != filepath.Join(h.base, "run", "efs-fuse") {
				t.Errorf("request not filled: logger %v config %v state %q", r.Logger, r.Config, r.StateDir)
			}
			tc.check(t, r)
		})
	}
}

func TestSuccessLineAndStateDir(t *testing.T) {
	h := newHarness(t)
	if err := os.WriteFile(h.cfg, []byte("[DEFAULT]\nstate_file_dir_mode = 700\n[mount]\nregion = eu-west-2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	delete(h.env, "AWS_REGION")
	if code := h.run("mount.efs", "fs-12345678:/", h.mnt, "-o", "tls"); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, h.stderr)
	}
	want := " UTC - INFO - Successfully mounted fs-12345678.efs.eu-west-2.amazonaws.com at " + h.mnt + "\n"
	if log := h.log(t); !strings.Contains(log, want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
	fi, err := os.Stat(filepath.Join(h.base, "run", "efs-fuse"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v %v", fi, err)
	}
	if h.stdout.Len() != 0 || h.stderr.Len() != 0 {
		t.Errorf("a successful mount printed %q %q", h.stdout, h.stderr)
	}
}

func TestVerboseLogsDebug(t *testing.T) {
	h := newHarness(t)
	if code := h.run("mount.efs", "-v", "fs-12345678:/", h.mnt); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(h.log(t), " - DEBUG - mount requested") {
		t.Error("-v did not log at DEBUG")
	}
}

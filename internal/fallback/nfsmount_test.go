package fallback

import (
	"context"
	"errors"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

const dns = "fs-deadbeef.efs.us-east-1.amazonaws.com"

func request(t *testing.T, opts string) *mountopts.MountRequest {
	t.Helper()
	o, err := mountopts.Parse(opts)
	if err != nil {
		t.Fatalf("Parse(%q): %v", opts, err)
	}
	return &mountopts.MountRequest{FSID: "fs-deadbeef", Path: "/", MountPoint: "/mnt/efs", Options: o,
		Target: mountopts.Target{DNSName: dns, ServerName: dns, DialAddr: dns + ":2049", Region: "us-east-1"}}
}

func TestMountArgs(t *testing.T) {
	const defaults = "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"
	cases := []struct {
		name, opts, path string
		want             []string
	}{
		{"TLSDefaults", "tls", "/", []string{"mount.nfs4", "127.0.0.1:/", "/mnt/efs", "-o", defaults + ",port=20407"}},
		{"TLSSubdir", "tls,fallback", "/data/x", []string{"mount.nfs4", "127.0.0.1:/data/x", "/mnt/efs", "-o", defaults + ",port=20407"}},
		{"UserNFSOptionsFirstDefaultsNotRepeated", "tls,soft,timeo=100,ro,noac,_netdev", "/",
			[]string{"mount.nfs4", "127.0.0.1:/", "/mnt/efs", "-o",
				"soft,timeo=100,ro,noac,_netdev,nfsvers=4.1,rsize=1048576,wsize=1048576,retrans=2,noresvport,port=20407"}},
		{"EFSOnlyOptionsNeverPassed", "tls,stunnel,tlsport=20407,verify=1,cafile=/c.pem,iam,accesspoint=fsap-0123456789abcdef0,region=us-east-1,az=use1-az1,noocsp,mounttargetip=10.0.0.1,rsize=65536", "/",
			[]string{"mount.nfs4", "127.0.0.1:/", "/mnt/efs", "-o",
				"rsize=65536,nfsvers=4.1,wsize=1048576,hard,timeo=600,retrans=2,noresvport,port=20407"}},
		{"VersAndResvport", "tls,vers=4.0,resvport", "/", []string{"mount.nfs4", "127.0.0.1:/", "/mnt/efs", "-o",
			"vers=4.0,resvport,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,port=20407"}},
		{"NConnectPassedToTheKernel", "tls,nconnect=4", "/", []string{"mount.nfs4", "127.0.0.1:/", "/mnt/efs", "-o", "nconnect=4," + defaults + ",port=20407"}},
		{"NoTLSMountsTheTarget", "fallback", "/", []string{"mount.nfs4", dns + ":/", "/mnt/efs", "-o", defaults}},
		{"NoTLSExplicit", "notls,fallback,hard", "/a", []string{"mount.nfs4", dns + ":/a", "/mnt/efs", "-o",
			"hard,nfsvers=4.1,rsize=1048576,wsize=1048576,timeo=600,retrans=2,noresvport"}},
		{"NoTLSMountTargetIP", "mounttargetip=10.0.0.1", "/", []string{"mount.nfs4", "10.0.0.1:/", "/mnt/efs", "-o", defaults}},
		{"NoTLSUserPortPassedThrough", "port=3049", "/", []string{"mount.nfs4", dns + ":/", "/mnt/efs", "-o", "port=3049," + defaults}},
		{"NoTLSMountTargetPort", "mounttargetip=127.0.0.1,mounttargetport=12049", "/", []string{"mount.nfs4", "127.0.0.1:/", "/mnt/efs", "-o", defaults + ",port=12049"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := request(t, tc.opts)
			req.Path = tc.path
			if got := MountArgs(req, 20407); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("MountArgs(%q) =\n  %q\nwant\n  %q", tc.opts, got, tc.want)
			}
		})
	}
}

// script is an ExecFunc playing back results, one per call.
type script struct {
	results []func(ctx context.Context) (string, error)
	calls   int
}

func (s *script) run(ctx context.Context, argv []string) (string, error) {
	r := s.results[s.calls]
	s.calls++
	return r(ctx)
}

func exitErr(t *testing.T, code int) error {
	t.Helper()
	err := exec.Command("sh", "-c", "exit "+strconv.Itoa(code)).Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("no exit error: %v", err)
	}
	return ee
}

func TestRunMountNFSRetries(t *testing.T) {
	ok := func(context.Context) (string, error) { return "", nil }
	reset := func(context.Context) (string, error) {
		return "mount.nfs4: Connection reset by peer\n", exitErr(t, 32)
	}
	hang := func(ctx context.Context) (string, error) { <-ctx.Done(); return "", ctx.Err() }
	denied := func(context.Context) (string, error) {
		return "mount.nfs4: access denied by server while mounting 127.0.0.1:/\n", exitErr(t, 32)
	}
	argv := []string{"mount.nfs4", "127.0.0.1:/", "/mnt/efs", "-o", "port=1"}
	cases := []struct {
		name      string
		results   []func(context.Context) (string, error)
		wantCalls int
		wantErr   string
		wantLogs  int
	}{
		{"FirstTime", []func(context.Context) (string, error){ok}, 1, "", 0},
		{"ResetThenOK", []func(context.Context) (string, error){reset, reset, ok}, 3, "", 2},
		{"TimeoutThenOK", []func(context.Context) (string, error){hang, ok}, 2, "", 1},
		{"ThreeResets", []func(context.Context) (string, error){reset, reset, reset}, 3,
			`Failed to mount ` + dns + ` at /mnt/efs: returncode=32, stderr="mount.nfs4: Connection reset by peer"`, 3},
		{"ThreeTimeouts", []func(context.Context) (string, error){hang, hang, hang}, 3,
			`Failed to mount ` + dns + ` at /mnt/efs: context deadline exceeded`, 3},
		{"OtherErrorNotRetried", []func(context.Context) (string, error){denied}, 1,
			`Failed to mount ` + dns + ` at /mnt/efs: returncode=32, stderr="mount.nfs4: access denied by server while mounting 127.0.0.1:/"`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{results: tc.results}
			core, logs := observer.New(zapcore.DebugLevel)
			sleeps := 0
			err := RunMountNFS(context.Background(), s.run, argv, dns,
				Retry{Timeout: 50 * time.Millisecond, Sleep: func(context.Context) { sleeps++ }}, zap.New(core))
			if s.calls != tc.wantCalls {
				t.Errorf("%d attempts, want %d", s.calls, tc.wantCalls)
			}
			if got := errString(err); got != tc.wantErr {
				t.Errorf("error %q\nwant  %q", got, tc.wantErr)
			}
			if n := logs.FilterMessageSnippet("mount attempt").Len(); n != tc.wantLogs {
				t.Errorf("%d retry log lines, want %d", n, tc.wantLogs)
			}
			if want := max(0, min(tc.wantLogs, tc.wantCalls-1)); sleeps != want {
				t.Errorf("%d sleeps, want %d", sleeps, want)
			}
		})
	}
}

func TestRunMountNFSCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &script{results: []func(context.Context) (string, error){func(context.Context) (string, error) {
		cancel()
		return "", context.Canceled
	}}}
	err := RunMountNFS(ctx, s.run, []string{"mount.nfs4", "h:/", "/m"}, dns, Retry{}, zap.NewNop())
	if !errors.Is(err, context.Canceled) || s.calls != 1 {
		t.Errorf("cancelled mount: %v after %d calls", err, s.calls)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}

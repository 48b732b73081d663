package fallback

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/efs-fuse/efs-fuse/internal/detached"
	"github.com/efs-fuse/efs-fuse/internal/testca"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

const serverName = "fs-12345678.efs.us-east-1.amazonaws.com"

func TestTunnelArgvParsesBack(t *testing.T) {
	for name, in := range map[string]TunnelOptions{
		"ExternalCert": {Listen: "127.0.0.1:20407", Target: "10.0.0.1:2049", ServerName: serverName, CAFile: "/ca.pem",
			Verify: 1, NoCheckHostname: true, IdleTimeout: 90 * time.Second, CertFile: "/c.pem", KeyFile: "/k.pem",
			LogFile: "/var/log/x.log", LogLevel: "DEBUG", NetNS: "/var/run/netns/blue"},
		"Identity": {Listen: "127.0.0.1:20408", Target: "10.0.0.1:2049", ServerName: serverName, Verify: 2,
			KeyFile: "/etc/amazon/efs/privateKey.pem", FSID: "fs-12345678", AccessPoint: "fsap-0123456789abcdef0", IAM: true,
			AWSProfile: "prof", AWSCredsURI: "/v2/credentials/x", RoleARN: "arn:aws:iam::1:role/r", JWTPath: "/t.jwt",
			Region: "eu-west-1", CertRenewal: 45 * time.Minute, CertOut: "/var/run/efs/fs-12345678.mnt.20408+/certificate.pem",
			LogFile: "/var/log/y.log", LogLevel: "INFO"},
		"IdentityMinimal": {Listen: "127.0.0.1:20409", Target: "10.0.0.1:2049", ServerName: serverName, FSID: "fs-12345678"},
	} {
		t.Run(name, func(t *testing.T) {
			argv := TunnelArgv("/usr/bin/efs-fuse", in)
			if argv[0] != "/usr/bin/efs-fuse" || argv[1] != "tunnel" {
				t.Fatalf("argv = %q", argv)
			}
			var out TunnelOptions
			fs := pflag.NewFlagSet("tunnel", pflag.ContinueOnError)
			TunnelFlags(fs, &out)
			if err := fs.Parse(argv[2:]); err != nil {
				t.Fatal(err)
			}
			if out.IdleTimeout == tunnel.DefaultIdleTimeout && in.IdleTimeout == 0 {
				out.IdleTimeout = 0 // not written when zero: the flag default
			}
			if in.LogLevel == "" {
				in.LogLevel = "INFO"
			}
			if out != in {
				t.Errorf("parsed back %+v\nwant %+v", out, in)
			}
			if err := out.check(); err != nil {
				t.Errorf("check: %v", err)
			}
		})
	}
}

func TestTunnelOptionsCheck(t *testing.T) {
	base := TunnelOptions{Listen: "127.0.0.1:1", Target: "h:2049"}
	for name, c := range map[string]struct {
		mod  func(*TunnelOptions)
		want string // "" = valid
	}{
		"Plain":              {func(o *TunnelOptions) {}, ""},
		"ExternalCert":       {func(o *TunnelOptions) { o.CertFile, o.KeyFile = "/c", "/k" }, ""},
		"CertWithoutKey":     {func(o *TunnelOptions) { o.CertFile = "/c" }, "go together"},
		"Identity":           {func(o *TunnelOptions) { o.FSID, o.KeyFile, o.IAM, o.AWSProfile = "fs-1", "/k", true, "p" }, ""},
		"IdentityAndCert":    {func(o *TunnelOptions) { o.FSID, o.CertFile, o.KeyFile = "fs-1", "/c", "/k" }, "mutually exclusive"},
		"AccessPointNoFSID":  {func(o *TunnelOptions) { o.AccessPoint = "fsap-0123456789abcdef0" }, "need --fs-id"},
		"CertOutNoFSID":      {func(o *TunnelOptions) { o.CertOut = "/x" }, "need --fs-id"},
		"ProfileWithoutIAM":  {func(o *TunnelOptions) { o.FSID, o.AWSProfile = "fs-1", "p" }, "need --iam"},
		"NegativeRenewal":    {func(o *TunnelOptions) { o.FSID, o.CertRenewal = "fs-1", -time.Second }, "negative"},
		"IdentityNoRenewal":  {func(o *TunnelOptions) { o.FSID = "fs-1" }, ""},
		"RegionWithIdentity": {func(o *TunnelOptions) { o.FSID, o.Region = "fs-1", "us-east-1" }, ""},
	} {
		o := base
		c.mod(&o)
		err := o.check()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: check() = %v, want %q", name, err, c.want)
		}
	}
}

// TestTunnelProcessReloadsOnSIGHUP runs the tunnel as a process and checks
// which client certificate the target sees before and after SIGHUP.
func TestTunnelProcessReloadsOnSIGHUP(t *testing.T) {
	t.Setenv(helperEnv, "1")
	dir := t.TempDir()
	ca, cns := startTargetCA(t)
	issueClient := func(cn string) (string, string) {
		c, k, err := ca.IssueFiles(dir, "client", testca.Leaf{CommonName: cn, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	certFile, keyFile := issueClient("cert-1")
	port := freeRange(t, 1)
	exe, _ := os.Executable()
	o := TunnelOptions{Listen: "127.0.0.1:" + strconv.Itoa(port), Target: cns.addr, ServerName: serverName,
		CAFile: ca.CertFile(), Verify: 2, CertFile: certFile, KeyFile: keyFile, LogFile: filepath.Join(dir, "tunnel.log")}
	tun, err := detached.Start(TunnelArgv(exe, o), o.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPID(t, tun.Pid()) })
	if err := waitAccepting(t.Context(), port, tun, o.LogFile); err != nil {
		t.Fatal(err)
	}
	presented := func() string {
		c, err := net.Dial("tcp", o.Listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		select {
		case cert := <-cns.seen:
			return cert.Subject.CommonName
		case <-time.After(5 * time.Second):
			t.Fatal("target saw no connection")
			return ""
		}
	}
	if cn := presented(); cn != "cert-1" {
		t.Fatalf("presented %q, want cert-1", cn)
	}
	issueClient("cert-2") // the watchdog renews the files...
	if cn := presented(); cn != "cert-1" {
		t.Fatalf("presented %q before SIGHUP, want cert-1", cn)
	}
	if err := syscall.Kill(tun.Pid(), syscall.SIGHUP); err != nil { // ...and signals the tunnel
		t.Fatal(err)
	}
	for end := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		cn := presented()
		if cn == "cert-2" {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("still presenting %q 3 s after SIGHUP", cn)
		}
	}
	if tun.Exited() {
		t.Fatal("SIGHUP ended the tunnel")
	}
}

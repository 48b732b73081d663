package localtarget

import (
	"errors"
	"fmt"
	"net"
	"regexp"

	"go.uber.org/zap"
)

// Options configures a local target. Zero fields take the documented defaults.
type Options struct {
	ExportDir    string // directory exported (FSAL VFS: needs root and ext4/xfs)
	StateDir     string // CA, server cert, ganesha.conf, ganesha log/pid, recovery dir
	Listen       string // TLS front end address, default 127.0.0.1:2049; must be loopback
	FSID         string // default fs-12345678
	Region       string // default us-east-1
	DNSSuffix    string // default amazonaws.com
	GaneshaPort  int    // 0 = a free loopback port
	LeaseSeconds int    // ganesha Lease_Lifetime, default 60, 1-120
	// Grace starts ganesha with a real grace period of GraceSeconds
	// (default 15) instead of Graceless; RestartGanesha chooses per restart.
	// Off by default: tests that do not care must not wait for grace.
	// ganesha 4.3 ends (or lifts early) the grace only at a periodic check,
	// observed 5.3 s after start with a 10 s lease: shorter periods act as
	// about that long.
	Grace        bool
	GraceSeconds int
	Logger       *zap.Logger

	// Client identity (EFS-FACTS section 4), checked by the TLS front end
	// before any byte reaches ganesha. All zero: clients are not asked for
	// a certificate, as before. See IdentityPolicy.
	RequestClientCert  bool              // ask for the client certificate and log its EFS identity
	RequireAccessPoint string            // refuse certificates without this access point ID
	RequireIAM         bool              // refuse certificates without a valid IAM signature
	IAMCredentials     map[string]string // access key ID -> secret key, to verify IAM signatures
}

// Defaults.
const (
	DefaultListen       = "127.0.0.1:2049"
	DefaultFSID         = "fs-12345678"
	DefaultRegion       = "us-east-1"
	DefaultDNSSuffix    = "amazonaws.com"
	DefaultLeaseSeconds = 60
	DefaultGraceSeconds = 15
	// maxGraceSeconds is ganesha's upper bound on Grace_Period (0-180).
	maxGraceSeconds = 180
	// maxLeaseSeconds is the lowest upper bound ganesha releases put on
	// Lease_Lifetime (4.x: 120). 4.3 accepts out-of-range values without a
	// word, so the range is enforced here.
	maxLeaseSeconds = 120
)

var (
	fsIDPattern   = regexp.MustCompile(`^fs-[0-9a-f]+$`)
	regionPattern = regexp.MustCompile(`^[a-z0-9-]+$`)
	suffixPattern = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)*$`)
)

// withDefaults fills zero fields and checks the rest; it does no I/O.
func (o Options) withDefaults() (Options, error) {
	if o.ExportDir == "" {
		return o, errors.New("local target: no export directory")
	}
	if o.StateDir == "" {
		return o, errors.New("local target: no state directory")
	}
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.FSID == "" {
		o.FSID = DefaultFSID
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.DNSSuffix == "" {
		o.DNSSuffix = DefaultDNSSuffix
	}
	if o.LeaseSeconds == 0 {
		o.LeaseSeconds = DefaultLeaseSeconds
	}
	if o.GraceSeconds == 0 {
		o.GraceSeconds = DefaultGraceSeconds
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if err := checkLoopback(o.Listen); err != nil {
		return o, err
	}
	if !fsIDPattern.MatchString(o.FSID) {
		return o, fmt.Errorf("local target: file system ID %q is malformed (want fs- and hex digits)", o.FSID)
	}
	if !regionPattern.MatchString(o.Region) {
		return o, fmt.Errorf("local target: region %q is malformed", o.Region)
	}
	if !suffixPattern.MatchString(o.DNSSuffix) {
		return o, fmt.Errorf("local target: DNS suffix %q is malformed", o.DNSSuffix)
	}
	if o.GaneshaPort < 0 || o.GaneshaPort > 65535 {
		return o, fmt.Errorf("local target: ganesha port %d is out of range", o.GaneshaPort)
	}
	if o.LeaseSeconds < 1 || o.LeaseSeconds > maxLeaseSeconds {
		return o, fmt.Errorf("local target: lease of %d s is outside ganesha's range 1-%d", o.LeaseSeconds, maxLeaseSeconds)
	}
	if o.GraceSeconds < 1 || o.GraceSeconds > maxGraceSeconds {
		return o, fmt.Errorf("local target: grace period of %d s is outside ganesha's range 1-%d", o.GraceSeconds, maxGraceSeconds)
	}
	if err := o.checkIdentityOptions(); err != nil {
		return o, err
	}
	return o, nil
}

// checkLoopback refuses any listen address that is not on loopback: the
// target exports a directory read-write with no_root_squash and AUTH_SYS,
// which must never be reachable from another machine.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("local target: listen address %q: %w", addr, err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("local target: listen address %q: bad port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("local target: listen address %q is not a loopback address (use 127.0.0.1:PORT): the target must not be reachable from other machines", addr)
	}
	return nil
}

// serverName is the name EFS clients verify: fs-id.efs.region.suffix.
func (o Options) serverName() string {
	return fmt.Sprintf("%s.efs.%s.%s", o.FSID, o.Region, o.DNSSuffix)
}

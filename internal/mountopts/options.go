package mountopts

import (
	"strings"
)

// DefaultMountTargetPort is the NFS port of every EFS mount target.
const DefaultMountTargetPort = 2049

// Option is one -o entry, key or key=value.
type Option struct {
	Key, Value string
	HasValue   bool
}

func (o Option) String() string {
	if o.HasValue {
		return o.Key + "=" + o.Value
	}
	return o.Key
}

// Options is a parsed and validated -o string.
type Options struct {
	// EFS-only options (never passed to the NFS layer).
	TLS, NoTLS    bool
	TLSPort       int  // tlsport=N; 0 when not given
	Verify        *int // verify=N (stunnel verify level); nil when not given
	CAFile        string
	OCSP, NoOCSP  bool
	IAM           bool
	AWSProfile    string
	AWSCredsURI   string
	RoleARN       string
	JWTPath       string
	AccessPoint   string
	MountTargetIP string
	AZ            string
	Region        string
	CrossAccount  bool
	// NetNS is netns=PATH, a network namespace file: connections to the
	// mount target are made from inside that namespace.
	NetNS string

	// Ours.
	// MountTargetPort is the server's NFS port: 2049 for EFS; other values
	// serve the local test target and on-premises servers.
	MountTargetPort int
	// Fallback selects fallback mode (local TLS tunnel + kernel NFS
	// client) instead of FUSE; "stunnel" is accepted as an alias.
	Fallback bool

	// NFS holds every other option, in the order given. Repeated options
	// are kept; as with mount.nfs the last one wins.
	NFS []Option

	// efs records which EFS-only options were present (with their last
	// value): the helper's checks are about presence, not values.
	efs map[string]string
}

// efsOnly lists the EFS mount helper's own options plus ours; none of them
// reaches the NFS layer. capath is listed so it is caught, not passed on.
var efsOnly = map[string]bool{
	"tls": true, "notls": true, "tlsport": true, "verify": true, "cafile": true,
	"ocsp": true, "noocsp": true, "iam": true, "awsprofile": true,
	"awscredsuri": true, "rolearn": true, "jwtpath": true, "accesspoint": true,
	"mounttargetip": true, "az": true, "region": true, "crossaccount": true,
	"netns": true, "stunnel": true, "capath": true,
	"mounttargetport": true, "fallback": true,
}

// IsEFSOnly reports whether key is an option the NFS layer never sees.
func IsEFSOnly(key string) bool { return efsOnly[key] }

// Parse parses and validates a comma-separated -o string. Several -o
// arguments can be joined with commas first. An option that neither EFS,
// NFS, mount(8) nor FUSE knows is refused, as mount.nfs4 would refuse it
// (a typo must not mount with a default silently in its place). Errors
// are *UsageError.
func Parse(optsString string) (*Options, error) { return parse(optsString, false) }

// ParseSloppy is Parse for mount -s: unknown options are kept, and
// Unrecognized lists them, instead of failing the mount.
func ParseSloppy(optsString string) (*Options, error) { return parse(optsString, true) }

func parse(optsString string, sloppy bool) (*Options, error) {
	o := &Options{MountTargetPort: DefaultMountTargetPort, efs: map[string]string{}}
	for _, item := range strings.Split(optsString, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, value, hasValue := strings.Cut(item, "=")
		if efsOnly[key] {
			o.efs[key] = value
			continue
		}
		if !sloppy && !known(key) {
			return nil, unknownOption(key)
		}
		o.NFS = append(o.NFS, Option{Key: key, Value: value, HasValue: hasValue})
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// Has reports whether key was given, EFS-only or NFS.
func (o *Options) Has(key string) bool {
	if _, ok := o.efs[key]; ok {
		return true
	}
	_, ok := o.Get(key)
	return ok
}

// Get returns the last value given for the NFS option key.
func (o *Options) Get(key string) (string, bool) {
	for i := len(o.NFS) - 1; i >= 0; i-- {
		if o.NFS[i].Key == key {
			return o.NFS[i].Value, true
		}
	}
	return "", false
}

func (o *Options) hasEFS(key string) bool {
	_, ok := o.efs[key]
	return ok
}

package mountopts

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
)

// nameRe bounds region and az values: they become DNS labels.
var nameRe = regexp.MustCompile(`^[a-z0-9-]+$`)

// validate runs the helper's checks in the helper's order (the first
// failure is the one users see), then ours, and fills the typed fields.
func (o *Options) validate() error {
	has := o.hasEFS
	if has("capath") {
		return usagef(`Unsupported mount options detected: "capath"`)
	}
	if has("tls") && o.hasNFS("port") {
		return usagef(`The "port" and "tls" options are mutually exclusive`)
	}
	if has("tlsport") {
		v := o.efs["tlsport"]
		n, err := strconv.Atoi(v)
		if err != nil {
			return usagef(fmt.Sprintf("tlsport option [%s] is not an integer", v))
		}
		if n < 1 || n > 65535 {
			return usagef(fmt.Sprintf("tlsport option [%s] is not a valid port (1-65535)", v))
		}
		o.TLSPort = n
	}
	if has("ocsp") && has("noocsp") {
		return usagef(`The "ocsp" and "noocsp" options are mutually exclusive`)
	}
	if has("tls") && has("notls") {
		return usagef(`The "tls" and "notls" options are mutually exclusive`)
	}
	if has("accesspoint") {
		if !has("tls") {
			return usagef(`The "tls" option is required when mounting via "accesspoint"`)
		}
		if ap := o.efs["accesspoint"]; !apIDRe.MatchString(ap) {
			return usagef(fmt.Sprintf("Access Point ID %s is malformed", ap))
		}
	}
	if has("iam") && !has("tls") {
		return usagef(`The "tls" option is required when mounting via "iam"`)
	}
	if has("awsprofile") && !has("iam") {
		return usagef(`The "iam" option is required when mounting with named profile option, "awsprofile"`)
	}
	if has("awscredsuri") {
		if !has("iam") {
			return usagef(`The "iam" option is required when mounting with "awscredsuri"`)
		}
		if has("awsprofile") {
			return usagef(`The "awscredsuri" and "awsprofile" options are mutually exclusive`)
		}
		// It is appended to the ECS credentials endpoint, hence the slash.
		if uri := o.efs["awscredsuri"]; len(uri) == 0 || uri[0] != '/' {
			return usagef(fmt.Sprintf("awscredsuri %s is malformed", uri))
		}
	}
	for _, k := range []string{"rolearn", "jwtpath"} {
		if has(k) && !has("iam") {
			return usagef(fmt.Sprintf(`The "iam" option is required when mounting with %q`, k))
		}
	}
	if has("rolearn") != has("jwtpath") {
		return usagef(`The "rolearn" and "jwtpath" options must be used together`)
	}
	if err := o.validateOurs(); err != nil {
		return err
	}
	o.fill()
	return o.validateNFS()
}

// validateOurs holds checks the helper leaves to stunnel or mount.nfs to
// fail on later, less clearly.
func (o *Options) validateOurs() error {
	has := o.hasEFS
	for _, k := range []string{"cafile", "awsprofile", "rolearn", "jwtpath", "mounttargetip", "az", "region", "netns"} {
		if v, ok := o.efs[k]; ok && v == "" {
			return usagef(fmt.Sprintf("The %q option requires a value (%s=...)", k, k))
		}
	}
	// netns=PATH: whether it is a network namespace is checked when the
	// mount dials (tunnel.CheckNetNS names the reason). It must be
	// absolute: the watchdog restarts a fallback tunnel from another
	// working directory.
	if v, ok := o.efs["netns"]; ok && !filepath.IsAbs(v) {
		return usagef(fmt.Sprintf("The \"netns\" option needs an absolute path (netns=/proc/PID/ns/net or netns=/var/run/netns/NAME), not %s", v))
	}
	// crossaccount: the helper skips DNS (another account's mount target
	// names do not resolve here) and picks the mount target IP of this
	// instance's Availability Zone ID through the EFS and EC2 APIs. We do
	// not call those APIs; with mounttargetip the IP is already chosen and
	// DNS is not used for dialling, so that is the form we accept.
	if has("crossaccount") && !has("mounttargetip") {
		return usagef(`The "crossaccount" option requires "mounttargetip=IP", the mount target in this instance's Availability Zone ID: efs-fuse does not look it up through the EFS API`)
	}
	if has("verify") {
		v := o.efs["verify"]
		n, err := strconv.Atoi(v)
		if err != nil {
			return usagef(fmt.Sprintf("verify option [%s] is not an integer", v))
		}
		if n < 0 || n > 4 {
			return usagef(fmt.Sprintf("verify option [%s] must be between 0 and 4", v))
		}
		o.Verify = &n
	}
	if has("mounttargetport") {
		v := o.efs["mounttargetport"]
		n, err := strconv.Atoi(v)
		if err != nil {
			return usagef(fmt.Sprintf("mounttargetport option [%s] is not an integer", v))
		}
		if n < 1 || n > 65535 {
			return usagef(fmt.Sprintf("mounttargetport option [%s] is not a valid port (1-65535)", v))
		}
		o.MountTargetPort = n
	}
	if ip, ok := o.efs["mounttargetip"]; ok && net.ParseIP(ip) == nil {
		return usagef(fmt.Sprintf("Mount target IP address %s is malformed", ip))
	}
	if v, ok := o.efs["az"]; ok && !nameRe.MatchString(v) {
		return usagef(fmt.Sprintf("Availability zone name %s is malformed", v))
	}
	if v, ok := o.efs["region"]; ok && !nameRe.MatchString(v) {
		return usagef(fmt.Sprintf("Region %s is malformed", v))
	}
	return nil
}

// fill copies the checked EFS-only values into the typed fields.
func (o *Options) fill() {
	has := o.hasEFS
	o.TLS, o.NoTLS = has("tls"), has("notls")
	o.OCSP, o.NoOCSP = has("ocsp"), has("noocsp")
	o.IAM, o.CrossAccount = has("iam"), has("crossaccount")
	o.Fallback = has("fallback") || has("stunnel")
	o.CAFile = o.efs["cafile"]
	o.AWSProfile = o.efs["awsprofile"]
	o.AWSCredsURI = o.efs["awscredsuri"]
	o.RoleARN = o.efs["rolearn"]
	o.JWTPath = o.efs["jwtpath"]
	o.AccessPoint = o.efs["accesspoint"]
	o.MountTargetIP = o.efs["mounttargetip"]
	o.AZ = o.efs["az"]
	o.Region = o.efs["region"]
	o.NetNS = o.efs["netns"]
}

func (o *Options) hasNFS(key string) bool {
	_, ok := o.Get(key)
	return ok
}

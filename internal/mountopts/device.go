package mountopts

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	fsIDRe = regexp.MustCompile(`^fs-[0-9a-f]+$`)
	apIDRe = regexp.MustCompile(`^fsap-[0-9a-f]{17}$`)
	// efsFQDNRe matches a mount target name, [az.]fs-id.efs.region.suffix.
	efsFQDNRe = regexp.MustCompile(`^(?:([a-z0-9-]+)\.)?(fs-[0-9a-f]+)\.efs\.([a-z0-9-]+)\.([a-z0-9.]+)$`)
)

// Device is the parsed DEVICE argument.
type Device struct {
	// FSID is the file system id; empty when Host is a name still to be
	// resolved (a CNAME of a mount target).
	FSID string
	// Path is the exported path, "/" by default.
	Path string
	// Host is set when the device named a host rather than an fs-id.
	Host string
	// AZ, Region and Suffix are taken from Host when it has the form of a
	// mount target name ([az.]fs-id.efs.region.suffix).
	AZ, Region, Suffix string
}

// ParseDevice parses fs-id[:/path] or host[:/path].
func ParseDevice(s string) (Device, error) {
	remote, path, hasPath := strings.Cut(s, ":")
	if !hasPath || path == "" {
		path = "/"
	}
	if remote == "" {
		return Device{}, usagef(fmt.Sprintf("Invalid device %q: expected fs-id[:/path], e.g. fs-12345678:/", s))
	}
	if !strings.HasPrefix(path, "/") {
		return Device{}, usagef(fmt.Sprintf("Invalid path %q in device %q: the path must start with /", path, s))
	}
	d := Device{Path: path}
	if fsIDRe.MatchString(remote) {
		d.FSID = remote
		return d, nil
	}
	if strings.HasPrefix(remote, "fs-") && !strings.Contains(remote, ".") {
		return Device{}, usagef(fmt.Sprintf("File system ID %s is malformed", remote))
	}
	d.Host = strings.TrimSuffix(strings.ToLower(remote), ".")
	if d.Host == "" {
		// "." is the DNS root, no host: without this it would give a device
		// with neither file system ID nor host.
		return Device{}, usagef(fmt.Sprintf("Invalid device %q: expected fs-id[:/path], e.g. fs-12345678:/", s))
	}
	if m := efsFQDNRe.FindStringSubmatch(d.Host); m != nil {
		d.AZ, d.FSID, d.Region, d.Suffix = m[1], m[2], m[3], m[4]
	}
	return d, nil
}

// ResolveCNAME finds the mount target behind d.Host when it is not itself a
// mount target name, as the helper does for CNAMEs. lookup returns the names
// the host resolves to (canonical name first).
func ResolveCNAME(d Device, lookup func(host string) ([]string, error)) (Device, error) {
	if d.FSID != "" || d.Host == "" {
		return d, nil
	}
	names, err := lookup(d.Host)
	if err != nil {
		return d, usagef(fmt.Sprintf("Failed to resolve %q - check that the specified DNS name is a CNAME record resolving to a valid EFS DNS name", d.Host))
	}
	for _, n := range names {
		n = strings.TrimSuffix(strings.ToLower(n), ".")
		if m := efsFQDNRe.FindStringSubmatch(n); m != nil {
			d.AZ, d.FSID, d.Region, d.Suffix = m[1], m[2], m[3], m[4]
			return d, nil
		}
	}
	return d, usagef(fmt.Sprintf("The specified CNAME %q did not resolve to a valid DNS name for an EFS mount target. Please refer to the EFS documentation for mounting with DNS names for examples: https://docs.aws.amazon.com/efs/latest/ug/mounting-fs-mount-cmd-dns-name.html", d.Host))
}

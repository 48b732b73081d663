package mountopts

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
)

// Target is the server a mount talks to.
type Target struct {
	// DialAddr is host:port to connect to: the mount target IP when
	// mounttargetip is given, else DNSName.
	DialAddr string
	// ServerName is the name verified in the server certificate and sent as
	// SNI. With mounttargetip it is the file system name without AZ.
	ServerName string
	// DNSName is the mount target name, the one logged and shown to users
	// (even when an IP is dialled, as the helper does).
	DNSName string
	// Region is the region the name was built for.
	Region string
}

// RegionSources are where a region comes from after -o region, in order.
// Nil functions are skipped.
type RegionSources struct {
	// Getenv reads AWS_REGION, then AWS_DEFAULT_REGION.
	Getenv func(string) string
	// InstanceRegion asks the instance metadata service (IMDSv2); see
	// InstanceRegion in this package for the real one.
	InstanceRegion func(ctx context.Context) (string, error)
}

// ApplyDevice takes the AZ and region from a device given as a mount target
// name, unless the options set them; an AZ contradicting the name is an error.
func (o *Options) ApplyDevice(d Device) error {
	if d.AZ != "" {
		if o.AZ != "" && o.AZ != d.AZ {
			return usagef(fmt.Sprintf("The hostname %q does not match the az provided in the mount options, expected = %s, given = %s", d.Host, d.AZ, o.AZ))
		}
		o.AZ = d.AZ
	}
	if d.Region != "" && o.Region == "" {
		o.Region = d.Region
	}
	return nil
}

// Region finds the region: -o region, AWS_REGION, AWS_DEFAULT_REGION, the
// config file's [mount] region, then instance metadata.
func Region(ctx context.Context, opts *Options, cfg *efsconfig.Config, src RegionSources) (string, error) {
	if opts.Region != "" {
		return opts.Region, nil
	}
	if src.Getenv != nil {
		for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
			if v := strings.TrimSpace(src.Getenv(k)); v != "" {
				return checkRegion(v, k)
			}
		}
	}
	if cfg.Mount.Region != "" {
		return checkRegion(cfg.Mount.Region, "[mount] region in "+cfg.Path)
	}
	why := "instance metadata is not consulted"
	if src.InstanceRegion != nil {
		r, err := src.InstanceRegion(ctx)
		if err == nil && r != "" {
			return checkRegion(r, "instance metadata")
		}
		why = "instance metadata did not answer"
		if err != nil {
			why = fmt.Sprintf("instance metadata did not answer: %v", err)
		}
	}
	return "", usagef(fmt.Sprintf(`Error retrieving region. Please set the "region" parameter in the efs-utils configuration file (%s), pass -o region=REGION, or set AWS_REGION (%s)`, cfg.Path, why))
}

func checkRegion(r, from string) (string, error) {
	if !nameRe.MatchString(r) {
		return "", usagef(fmt.Sprintf("Region %s from %s is malformed", r, from))
	}
	return r, nil
}

// DNSName builds the mount target's name from the config's dns_name_format
// and resolves where to dial. The region is looked up only when the format
// needs it.
func DNSName(ctx context.Context, fsID string, opts *Options, cfg *efsconfig.Config, src RegionSources) (Target, error) {
	format := cfg.Mount.DNSNameFormat
	if !strings.Contains(format, "{fs_id}") {
		return Target{}, usagef(fmt.Sprintf("DNS name format must include {fs_id}: dns_name_format = %s in %s", format, cfg.Path))
	}
	var region string
	if strings.Contains(format, "{region}") {
		r, err := Region(ctx, opts, cfg, src)
		if err != nil {
			return Target{}, err
		}
		region = r
	} else if opts.Region != "" {
		region = opts.Region
	}
	fill := func(az string) (string, error) {
		return formatDNSName(format, az, fsID, region, cfg.DNSNameSuffix(region))
	}
	name, err := fill(opts.AZ)
	if err != nil {
		return Target{}, usagef(fmt.Sprintf("%v (dns_name_format in %s)", err, cfg.Path))
	}
	port := strconv.Itoa(opts.MountTargetPort)
	t := Target{DNSName: name, ServerName: name, DialAddr: net.JoinHostPort(name, port), Region: region}
	if opts.MountTargetIP != "" {
		t.ServerName, _ = fill("") // same format, already checked
		t.DialAddr = net.JoinHostPort(opts.MountTargetIP, port)
	}
	return t, nil
}

// formatDNSName fills the {placeholders}; "{az}." disappears without an AZ.
func formatDNSName(format, az, fsID, region, suffix string) (string, error) {
	if az == "" {
		format = strings.ReplaceAll(format, "{az}.", "")
	}
	vals := map[string]string{"az": az, "fs_id": fsID, "region": region, "dns_name_suffix": suffix}
	var b strings.Builder
	for rest := format; rest != ""; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unbalanced { in DNS name format %q", format)
		}
		key := rest[i+1 : i+j]
		v, ok := vals[key]
		if !ok {
			return "", fmt.Errorf("unknown placeholder {%s} in DNS name format %q", key, format)
		}
		b.WriteString(v)
		rest = rest[i+j+1:]
	}
	return strings.Trim(b.String(), "."), nil
}

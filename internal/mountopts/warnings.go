package mountopts

// Warnings are what a mount with these options must tell the user about
// its security, logged (as WARNING) by both modes before they connect:
//   - iam with verify=0: the IAM-signed client certificate is presented to
//     whoever answers, since the mount target is not authenticated;
//   - ocsp: accepted as the mount helper accepts it, but efs-fuse does not
//     check certificate revocation, so it protects nothing.
func (o *Options) Warnings() []string {
	var out []string
	if o.IAM && o.Verify != nil && *o.Verify == 0 {
		out = append(out, `"iam" with "verify=0": the mount target's certificate is not verified, so the IAM-signed client certificate is presented to whatever server answers; remove verify=0`)
	}
	if o.OCSP {
		out = append(out, `"ocsp" is accepted for compatibility, but certificate revocation is not checked (no OCSP requests are made)`)
	}
	return out
}

package localtarget

import (
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/efsext"
	"github.com/efs-fuse/efs-fuse/internal/iamauth"
)

var accessPointPattern = regexp.MustCompile(`^fsap-[0-9a-f]{17}$`)

// IdentityPolicy is what the front end demands of a client's TLS
// certificate, standing in for EFS's access point and IAM checks. Client
// certificates are self-signed, so there is no chain to verify: the TLS
// handshake proves the client holds the key, and the IAM signature binds
// the credentials to that key.
type IdentityPolicy struct {
	FSID               string
	Region             string
	RequireAccessPoint string            // "" = any or none
	RequireIAM         bool              //
	IAMCredentials     map[string]string // access key ID -> secret access key
	Now                func() time.Time  // nil = time.Now
}

// IdentityError is a refusal; Reason never contains a secret.
type IdentityError struct{ Reason string }

func (e *IdentityError) Error() string { return "client identity refused: " + e.Reason }

func refuse(format string, args ...any) error {
	return &IdentityError{Reason: fmt.Sprintf(format, args...)}
}

// enforcing reports whether anything can be refused.
func (p *IdentityPolicy) enforcing() bool { return p.RequireAccessPoint != "" || p.RequireIAM }

// Check inspects the peer certificates of one handshake and returns the EFS
// identity found, or an *IdentityError when the policy refuses it.
func (p *IdentityPolicy) Check(certs []*x509.Certificate) (efsext.Identity, error) {
	if len(certs) == 0 {
		if p.enforcing() {
			return efsext.Identity{}, refuse("no client certificate (an access point or IAM mount must present one)")
		}
		return efsext.Identity{}, nil
	}
	cert := certs[0]
	id, err := efsext.Decode(cert)
	if !p.enforcing() {
		return id, nil // only asked, to log what clients send
	}
	if err != nil {
		return id, refuse("%v", err)
	}
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return id, refuse("client certificate is valid only from %s to %s", cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return id, refuse("client certificate is not self-signed by its own key: %v", err)
	}
	switch {
	case id.FileSystemID == "":
		return id, refuse("client certificate has no file system ID extension")
	case id.FileSystemID != p.FSID:
		return id, refuse("client certificate is for file system %s, this is %s", id.FileSystemID, p.FSID)
	case p.RequireAccessPoint != "" && id.AccessPoint == "":
		return id, refuse("access point %s is required and the certificate names none", p.RequireAccessPoint)
	case p.RequireAccessPoint != "" && id.AccessPoint != p.RequireAccessPoint:
		return id, refuse("access point %s is required, the certificate names %s", p.RequireAccessPoint, id.AccessPoint)
	}
	if p.RequireIAM {
		if err := p.checkIAM(cert, id, now); err != nil {
			return id, err
		}
	}
	return id, nil
}

func (p *IdentityPolicy) checkIAM(cert *x509.Certificate, id efsext.Identity, now time.Time) error {
	if id.IAM == nil {
		return refuse("IAM authorization is required and the certificate has no IAM extension")
	}
	secret, ok := p.IAMCredentials[id.IAM.AccessKeyID]
	if !ok {
		return refuse("IAM access key is unknown to this target")
	}
	err := iamauth.Verify(*id.IAM, secret, cert.RawSubjectPublicKeyInfo, p.Region, p.FSID, now)
	if err != nil {
		return refuse("IAM authorization failed: %v", err)
	}
	return nil
}

// identityFields describes an accepted identity for the log, without secrets.
func identityFields(id efsext.Identity) []zap.Field {
	f := []zap.Field{zap.String("client_fs_id", id.FileSystemID), zap.String("access_point", id.AccessPoint), zap.Bool("iam", id.IAM != nil)}
	if id.ClientInfo != nil {
		f = append(f, zap.String("client_source", id.ClientInfo.Source), zap.String("client_version", id.ClientInfo.EFSUtilsVersion))
	}
	return f
}

// identityPolicy builds the front end's policy from o; nil when clients are
// not asked for certificates at all (the original behaviour).
func (o Options) identityPolicy() *IdentityPolicy {
	if !o.RequestClientCert && o.RequireAccessPoint == "" && !o.RequireIAM {
		return nil
	}
	creds := make(map[string]string, len(o.IAMCredentials))
	for k, v := range o.IAMCredentials {
		creds[k] = v
	}
	return &IdentityPolicy{FSID: o.FSID, Region: o.Region, RequireAccessPoint: o.RequireAccessPoint,
		RequireIAM: o.RequireIAM, IAMCredentials: creds}
}

// checkIdentityOptions validates the identity fields of o.
func (o Options) checkIdentityOptions() error {
	if o.RequireAccessPoint != "" && !accessPointPattern.MatchString(o.RequireAccessPoint) {
		return fmt.Errorf("local target: Access Point ID %s is malformed", o.RequireAccessPoint)
	}
	if o.RequireIAM && len(o.IAMCredentials) == 0 {
		return errors.New("local target: requiring IAM needs at least one access key in IAMCredentials to verify signatures")
	}
	return nil
}

package iamauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// DefaultECSEndpoint is where the ECS agent serves task credentials; the
// awscredsuri option is a path on it.
const DefaultECSEndpoint = "http://169.254.170.2"

// roleSessionName names web-identity sessions in CloudTrail.
const roleSessionName = "efs-fuse-mount"

// SourceConfig says where credentials come from. The mount options map onto
// it directly (awsprofile, awscredsuri, rolearn, jwtpath); with none of them
// the SDK's default chain runs: AWS_* environment, the shared config/credentials
// default profile, web identity from AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
// (IRSA), container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, or
// AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
// for EKS Pod Identity) and finally instance metadata (IMDSv2).
type SourceConfig struct {
	Profile  string // awsprofile: a named profile of the shared files
	CredsURI string // awscredsuri: path on the ECS endpoint, e.g. /v2/credentials/<id>
	RoleARN  string // rolearn: assume this role with the token in JWTPath
	JWTPath  string // jwtpath
	Region   string // required: the mount's region (STS and the signature's scope)

	// Overrides, for tests and unusual networks; empty = the real endpoints.
	ECSEndpoint            string // default DefaultECSEndpoint
	IMDSEndpoint           string // default http://169.254.169.254 (or AWS_EC2_METADATA_SERVICE_ENDPOINT)
	STSEndpoint            string // default the regional STS endpoint
	SharedConfigFiles      []string
	SharedCredentialsFiles []string
	HTTPClient             *http.Client // nil = the SDK's client
}

// NewProvider returns a caching credentials provider for sc and a short
// description of the source for logs. Nothing is fetched yet: the first
// Retrieve does that, so a mount fails on its first signing, with the SDK's
// reason, rather than here.
func NewProvider(ctx context.Context, sc SourceConfig) (aws.CredentialsProvider, string, error) {
	if sc.Region == "" {
		return nil, "", errors.New("iamauth: a region is required for IAM authorization")
	}
	if (sc.RoleARN == "") != (sc.JWTPath == "") {
		return nil, "", errors.New(`iamauth: the "rolearn" and "jwtpath" options must be used together`)
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(sc.Region)}
	if sc.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(sc.Profile))
	}
	if sc.IMDSEndpoint != "" {
		opts = append(opts, config.WithEC2IMDSEndpoint(sc.IMDSEndpoint))
	}
	if sc.STSEndpoint != "" {
		// Only STS (and SSO) clients are built from this config, inside the chain.
		opts = append(opts, config.WithBaseEndpoint(sc.STSEndpoint))
	}
	if sc.SharedConfigFiles != nil {
		opts = append(opts, config.WithSharedConfigFiles(sc.SharedConfigFiles))
	}
	if sc.SharedCredentialsFiles != nil {
		opts = append(opts, config.WithSharedCredentialsFiles(sc.SharedCredentialsFiles))
	}
	if sc.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(sc.HTTPClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("iamauth: load AWS configuration: %w", err)
	}
	switch {
	case sc.Profile != "":
		// efs-utils looks at awsprofile first; the SDK gives a programmatic
		// profile precedence over AWS_* variables, as wanted.
		return cfg.Credentials, "profile " + sc.Profile, nil
	case sc.CredsURI != "":
		p, err := ecsProvider(sc)
		if err != nil {
			return nil, "", err
		}
		return aws.NewCredentialsCache(p), "awscredsuri", nil
	case sc.RoleARN != "":
		client := sts.NewFromConfig(cfg)
		p := stscreds.NewWebIdentityRoleProvider(client, sc.RoleARN, stscreds.IdentityTokenFile(sc.JWTPath),
			func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = roleSessionName })
		return aws.NewCredentialsCache(p), "web identity (rolearn/jwtpath)", nil
	default:
		return cfg.Credentials, "default credential chain", nil
	}
}

// ecsProvider fetches from the ECS agent at ECSEndpoint + CredsURI.
func ecsProvider(sc SourceConfig) (aws.CredentialsProvider, error) {
	if !strings.HasPrefix(sc.CredsURI, "/") {
		return nil, fmt.Errorf("iamauth: awscredsuri %s is malformed: it must start with /", sc.CredsURI)
	}
	base := sc.ECSEndpoint
	if base == "" {
		base = DefaultECSEndpoint
	}
	u, err := url.Parse(strings.TrimSuffix(base, "/") + sc.CredsURI)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("iamauth: ECS credentials URL %q is invalid", base+sc.CredsURI)
	}
	return endpointcreds.New(u.String(), func(o *endpointcreds.Options) {
		if sc.HTTPClient != nil {
			o.HTTPClient = sc.HTTPClient
		}
	}), nil
}

// staticTimeout bounds one credentials fetch when the caller's context has
// no deadline: IMDS and the ECS agent answer in milliseconds when present,
// and a mount must not hang on a metadata service that is not there.
const staticTimeout = 30 * time.Second

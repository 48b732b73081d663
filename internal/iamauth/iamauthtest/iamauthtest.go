// Package iamauthtest provides loopback stand-ins for the AWS credential
// endpoints (IMDSv2, the ECS agent, EKS Pod Identity, STS) and an
// environment that keeps the SDK away from the machine's real credentials.
package iamauthtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Creds is one set of credentials an endpoint serves.
type Creds struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// Isolate clears every environment variable the SDK's credential chain
// reads, points the shared files at nothing and disables IMDS, so a test
// sees only what it sets up. Uses t.Setenv: not for parallel tests.
func Isolate(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
		"AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// IMDS is a fake instance metadata service that insists on IMDSv2 tokens.
type IMDS struct {
	*httptest.Server
	V1Requests atomic.Int32 // metadata GETs without a valid token (refused with 401)
	Served     atomic.Int32 // credential documents served
}

const imdsToken = "imds-session-token-for-tests"

// NewIMDS serves c for the role "efs-test-role"; closed at test end.
func NewIMDS(t testing.TB, c Creds) *IMDS {
	m := &IMDS{}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") == "" {
			http.Error(w, "missing TTL", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
		fmt.Fprint(w, imdsToken)
	})
	guard := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Aws-Ec2-Metadata-Token") != imdsToken {
				m.V1Requests.Add(1)
				http.Error(w, "IMDSv2 token required", http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /latest/meta-data/iam/security-credentials/", guard(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "efs-test-role\n")
	}))
	mux.HandleFunc("GET /latest/meta-data/iam/security-credentials/efs-test-role", guard(func(w http.ResponseWriter, r *http.Request) {
		m.Served.Add(1)
		writeJSON(w, map[string]string{"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": c.AccessKeyID,
			"SecretAccessKey": c.SecretAccessKey, "Token": c.SessionToken, "Expiration": expiration(),
			"LastUpdated": time.Now().UTC().Format(time.RFC3339)})
	}))
	m.Server = httptest.NewServer(mux)
	t.Cleanup(m.Close)
	return m
}

// ContainerEndpoint is a fake ECS agent / EKS Pod Identity agent.
type ContainerEndpoint struct {
	*httptest.Server
	Served atomic.Int32
}

// NewContainerEndpoint serves c at path; when authToken is not empty the
// request must carry it in Authorization (EKS Pod Identity), else 401.
func NewContainerEndpoint(t testing.TB, path, authToken string, c Creds) *ContainerEndpoint {
	e := &ContainerEndpoint{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		if authToken != "" && r.Header.Get("Authorization") != authToken {
			http.Error(w, `{"code":"AccessDenied","message":"bad token"}`, http.StatusUnauthorized)
			return
		}
		e.Served.Add(1)
		writeJSON(w, map[string]string{"AccessKeyId": c.AccessKeyID, "SecretAccessKey": c.SecretAccessKey,
			"Token": c.SessionToken, "Expiration": expiration()})
	})
	e.Server = httptest.NewServer(mux)
	t.Cleanup(e.Close)
	return e
}

// STS is a fake STS answering AssumeRoleWithWebIdentity.
type STS struct {
	*httptest.Server
	LastRoleARN, LastToken atomic.Value // strings from the last call
}

// NewSTS returns c for any AssumeRoleWithWebIdentity call.
func NewSTS(t testing.TB, c Creds) *STS {
	s := &STS{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "AssumeRoleWithWebIdentity" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		s.LastRoleARN.Store(r.Form.Get("RoleArn"))
		s.LastToken.Store(r.Form.Get("WebIdentityToken"))
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>
<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, expiration())
	}))
	t.Cleanup(s.Close)
	return s
}

func expiration() string { return time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

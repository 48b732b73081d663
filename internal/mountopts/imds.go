package mountopts

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// IMDSEndpoint is the EC2 instance metadata service.
const IMDSEndpoint = "http://169.254.169.254"

// InstanceRegion asks the instance metadata service (IMDSv2: a session
// token, then the placement region) at endpoint, giving up after 1 s in
// total so that mounts off EC2 fail fast. Pass IMDSEndpoint for the real one.
func InstanceRegion(ctx context.Context, client *http.Client, endpoint string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	tok, err := imdsCall(ctx, client, http.MethodPut, endpoint+"/latest/api/token",
		"X-aws-ec2-metadata-token-ttl-seconds", "60")
	if err != nil {
		return "", fmt.Errorf("get IMDSv2 token: %w", err)
	}
	region, err := imdsCall(ctx, client, http.MethodGet, endpoint+"/latest/meta-data/placement/region",
		"X-aws-ec2-metadata-token", tok)
	if err != nil {
		return "", fmt.Errorf("get region from instance metadata: %w", err)
	}
	return region, nil
}

func imdsCall(ctx context.Context, client *http.Client, method, url, hdr, val string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set(hdr, val)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	return strings.TrimSpace(string(body)), nil
}

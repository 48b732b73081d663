package mountopts_test

import (
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

func TestAbsPaths(t *testing.T) {
	tests := []struct{ in, want string }{
		{"tls,cafile=.demo/state/ca/ca.pem", "tls,cafile=/home/u/.demo/state/ca/ca.pem"},
		{"tls,iam,rolearn=arn:aws:iam::1:role/r,jwtpath=../token", "tls,iam,rolearn=arn:aws:iam::1:role/r,jwtpath=/home/token"},
		{"tls,netns=ns/blue,cafile=/etc/ca.pem", "tls,netns=/home/u/ns/blue,cafile=/etc/ca.pem"},
		// Not paths, or empty (Parse names the missing value): unchanged.
		{"tls,awsprofile=dev,cafile=,region=us-east-1", "tls,awsprofile=dev,cafile=,region=us-east-1"},
	}
	for _, tc := range tests {
		if got := mountopts.AbsPaths(tc.in, "/home/u"); got != tc.want {
			t.Errorf("AbsPaths(%q)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

package iamauth_test

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/efs-fuse/efs-fuse/internal/iamauth/iamauthtest"
)

func staticProvider(c iamauthtest.Creds) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
}

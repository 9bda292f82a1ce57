package providers

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

func init() { Register(aws{}) }

// Paths and headers of the EC2 instance metadata service, version 2 (IMDSv2).
const (
	AWSTokenPath    = "/latest/api/token"
	AWSUserDataPath = "/latest/user-data"
	AWSTokenTTL     = "X-aws-ec2-metadata-token-ttl-seconds"
	AWSToken        = "X-aws-ec2-metadata-token"
)

// aws reads the user data from IMDSv2: a PUT for a session token, then a GET of the user
// data with it. No user data (404) means no config.
type aws struct{}

func (aws) Name() string { return "aws" }

func (aws) Fetch(ctx context.Context, env Env) ([]byte, error) {
	base := orEndpoint(env.Endpoints.AWS, DefaultAWSEndpoint)
	tok, err := env.get(ctx, base, AWSTokenPath, http.MethodPut, http.Header{AWSTokenTTL: {"300"}})
	if errors.Is(err, ErrNoConfig) || err == nil && strings.TrimSpace(string(tok)) == "" {
		return nil, errors.New("imdsv2: no session token")
	}
	if err != nil {
		return nil, err
	}
	return env.get(ctx, base, AWSUserDataPath, "", http.Header{AWSToken: {strings.TrimSpace(string(tok))}})
}

package providers

import (
	"context"
	"net/http"
)

func init() { Register(gcp{}) }

// GCPUserDataPath is the instance attribute GCP keeps the user data in.
const GCPUserDataPath = "/computeMetadata/v1/instance/attributes/user-data"

// gcp reads the user-data attribute from the metadata server, with the header it requires.
// No attribute (404) means no config.
type gcp struct{}

func (gcp) Name() string { return "gcp" }

func (gcp) Fetch(ctx context.Context, env Env) ([]byte, error) {
	return env.get(ctx, orEndpoint(env.Endpoints.GCP, DefaultGCPEndpoint), GCPUserDataPath, "",
		http.Header{"Metadata-Flavor": {"Google"}})
}

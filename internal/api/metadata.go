package api

import (
	"net/http"

	"github.com/ciwarden/ciwarden/internal/version"
)

// getMetadata is GET /metadata, and the deprecated GET /version, which
// GitLab (lib/api/metadata.rb, since 15.5) answers with the same body:
// version and revision, the agent server (KAS, which ciwarden does not
// run) and whether this is the enterprise edition. Clients call it first
// (python-gitlab's version(), the Go client's Version and Metadata).
func (a *API) getMetadata(c *Ctx) error {
	v := version.Get()
	writeJSON(c.W, http.StatusOK, map[string]any{
		"version":  v.Version,
		"revision": v.Revision,
		"kas": map[string]any{
			"enabled": false, "externalUrl": nil, "externalK8sProxyUrl": nil, "version": nil,
		},
		"enterprise": false,
	})
	return nil
}

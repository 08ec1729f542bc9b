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
	v, rev := version.Get()
	writeJSON(c.W, http.StatusOK, &metadataEntity{Version: v, Revision: rev})
	return nil
}

// metadataEntity is GitLab's Metadata entity.
type metadataEntity struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	KAS      struct {
		Enabled             bool    `json:"enabled"`
		ExternalURL         *string `json:"externalUrl"`
		ExternalK8sProxyURL *string `json:"externalK8sProxyUrl"`
		Version             *string `json:"version"`
	} `json:"kas"`
	Enterprise bool `json:"enterprise"`
}
